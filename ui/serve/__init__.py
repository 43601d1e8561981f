"""`rag serve`: one FastAPI app for people and programs, each route a thin shell over one ``RAG``.

- ``/``           the chat UI (``ui.app``, mounted)
- ``/api``        REST: ask, retrieve, documents, spans, sync, health (``ui.serve.rest``)
- ``/v1``         OpenAI-compatible models and chat completions (``ui.serve.openai_api``)
- ``/mcp``        MCP over streamable HTTP (``ui.serve.mcp``; ``rag mcp`` serves it over stdio)
- ``/docs``       the OpenAPI document (``/openapi.json``) and its page

The app, its security (API key, body limits, errors without tracebacks) and the server: ``ui.serve.app``.
"""
