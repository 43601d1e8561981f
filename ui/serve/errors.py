"""Every error the service returns has OpenAI's shape, ``{"error": {"message", "type", "param",
"code"}}``, on every route, so OpenAI clients raise it as they would OpenAI's own. Expected
failures say what is wrong; anything else is logged with its traceback and answered with
"internal error", never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from rag.errors import EXPECTED

log = logging.getLogger("ui.serve")


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """What every error response holds (OpenAI's error shape)."""

    error: ErrorDetail


class ServiceError(Exception):
    """A request the service refuses, with its HTTP status and OpenAI error code."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None):
        super().__init__(message)
        self.status, self.code, self.param = status, code, param


class BodyTooLarge(HTTPException):
    """A body that passed its limit while being read (an HTTPException, so that FastAPI's body
    parsing lets it through instead of answering 400)."""

    def __init__(self, message: str):
        super().__init__(413, message)


ERROR_RESPONSES = {status: {"model": ErrorResponse, "description": why} for status, why in {
    400: "bad request (its message says which field and why)",
    401: "missing or wrong API key",
    403: "a collection that the access file does not open to the request's user, or adding web "
         "pages where the server's url_allow is empty",
    404: "unknown document, collection, conversation or model",
    413: "request body too large",
    422: "the body does not match the schema",
    500: "internal error (details only in the server's log)",
}.items()}
"""The error responses every route declares in the OpenAPI document."""

_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 500: "server_error"}


def error_body(message: str, code: str, *, status: int = 400, param: str | None = None) -> dict:
    kind = _TYPES.get(status, "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _reply(status: int, message: str, code: str, param: str | None = None,
           headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, code, status=status, param=param), status_code=status,
                        headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error this shape."""

    @app.exception_handler(ServiceError)
    async def refused(request: Request, exc: ServiceError):
        return _reply(exc.status, str(exc), exc.code, exc.param)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "invalid body")
        return _reply(422, message, "invalid_request", where or None)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        code = "request_too_large" if exc.status_code == 413 else f"http_{exc.status_code}"
        # its headers too: a 405 names the allowed methods (Allow)
        return _reply(exc.status_code, str(exc.detail), code, headers=exc.headers)

    async def expected(request: Request, exc: Exception):
        from rag.access import NotGrantedError
        from rag.collections import UnknownCollectionError
        from rag.conversations import UnknownConversationError

        from .documents import UnknownDocument

        if isinstance(exc, NotGrantedError):
            return _reply(403, str(exc), "collection_not_granted")
        if isinstance(exc, (UnknownDocument, UnknownCollectionError, UnknownConversationError)):
            return _reply(404, str(exc), "not_found")
        return _reply(400, str(exc), "bad_request")

    for kind in EXPECTED:
        app.add_exception_handler(kind, expected)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _reply(500, f"internal error ({type(exc).__name__}), see the server log", "internal_error")
