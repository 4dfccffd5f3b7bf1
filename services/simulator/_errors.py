"""GHL-shaped error answers.

Bodies follow `common/common-schemas.json`: `{statusCode, message}` for 400,
`{statusCode, message, error}` for 401/403/404/429, and a *list* of messages for 422.
Framework errors (unknown route, bad JSON) are translated into the same shapes, the way GHL's
NestJS back end answers them (`Cannot GET /x` for an unknown route).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "install_error_handlers", "not_found"]

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ApiError(Exception):
    """An error answer; `message` is a list for 422 (GHL's class-validator shape)."""

    def __init__(
        self,
        status: int,
        message: str | list[str],
        *,
        meta: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.meta = meta

    def body(self) -> dict[str, Any]:
        """The JSON body GHL would send."""
        message = self.message
        if self.status == 422 and isinstance(message, str):
            message = [message]
        body: dict[str, Any] = {"statusCode": self.status, "message": message}
        # BadRequestDTO has no `error`; the other documented shapes do.
        if self.status != 400:
            body["error"] = _REASONS.get(self.status, "Error")
        if self.meta is not None:
            body["meta"] = self.meta
        return body

    def response(self) -> JSONResponse:
        """The error as a response."""
        return JSONResponse(self.body(), status_code=self.status)


def not_found(kind: str, entity_id: str) -> ApiError:
    """GHL's answer for an id it does not know: 400 `<Kind> not found for id:<id>`.

    The message is community-observed for contacts; the other kinds follow it by analogy
    (UNCONFIRMED). The spec lists 400, never 404, for these operations.
    """
    return ApiError(400, f"{kind} not found for id:{entity_id}")


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405):
        return ApiError(404, f"Cannot {request.method} {request.url.path}").response()
    return ApiError(exc.status_code, str(exc.detail)).response()


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    messages = [
        f"{'.'.join(str(p) for p in err['loc'][1:])} {err['msg']}".strip() for err in exc.errors()
    ]
    return ApiError(422, messages).response()


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in GHL's shapes."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
