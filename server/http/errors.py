"""Error bodies the API returns. Clients never see a stack trace."""

from __future__ import annotations

import logging
import math
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[dict[str, Any]] | None = None,
        contact: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        # Whom the holder of a refused join link may call ({"name", "phone"}).
        self.contact = contact
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields is not None:
            err["fields"] = self.fields
        # An error raised from a refusal that names a contact (a refused join link,
        # server.security.principals.LinkRefused) keeps it.
        contact = self.contact
        if contact is None:
            contact = getattr(self.__cause__, "contact", None)
        if isinstance(contact, dict):
            err["contact"] = contact
        return {"error": err}


class RateLimited(ApiError):
    """429 `rate_limited`, saying in how many whole seconds (at least 1) to try again.

    Raised or returned as `response()`, it sends the seconds as `Retry-After` too."""

    def __init__(self, wait: float, message: str = "尝试次数过多 / too many attempts") -> None:
        # Whole seconds, not rounded up past a wait that float arithmetic left a hair over.
        self.retry_after = max(1, math.ceil(wait - 1e-6))
        zh, _, en = message.partition(" / ")
        super().__init__(
            429,
            "rate_limited",
            f"{zh}，请 {self.retry_after} 秒后再试 / {en or zh}, retry in {self.retry_after} s",
        )
        self.headers["Retry-After"] = str(self.retry_after)

    def response(self) -> web.Response:
        return web.json_response(self.body(), status=self.status, headers=self.headers)


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)


def unauthorized(
    message: str = "请先登录 / authentication required", code: str = "unauthenticated"
) -> ApiError:
    return ApiError(401, code, message)


def forbidden(message: str = "无权访问 / permission denied") -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not_found", f"未找到 / {what} not found")


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


def from_validation(exc: ValidationError, where: str) -> ApiError:
    fields = [
        {
            "field": ".".join(str(p) for p in err["loc"]) or where,
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]
    return ApiError(400, "validation_error", f"输入有误 / invalid {where}", fields)


_STATUS_CODES = {
    404: ("not_found", "未找到 / not found"),
    405: ("method_not_allowed", "不支持该方法 / method not allowed"),
    413: ("payload_too_large", "请求过大 / request body too large"),
}


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as exc:
        # An error may carry headers of its answer (429's Retry-After).
        return web.json_response(exc.body(), status=exc.status, headers=exc.headers or None)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith(("/api", "/healthz", "/metrics")):
            raise
        code, message = _STATUS_CODES.get(exc.status, ("http_error", exc.reason))
        return web.json_response({"error": {"code": code, "message": message}}, status=exc.status)
    except IntegrityError:
        log.info("integrity conflict on %s %s", request.method, request.path, exc_info=True)
        err = conflict("与现有数据冲突 / conflicts with existing data")
        return web.json_response(err.body(), status=409)
    except Exception as exc:
        if isinstance(exc, ConnectionResetError) and _client_gone(request):
            # The client went away mid-request (a closed tab, a phone out of signal): nothing
            # failed here and no answer can reach it. 499 is what the access log shows.
            log.info("client left during %s %s", request.method, request.path)
            return web.Response(status=499, reason="Client Closed Request")
        log.exception("unhandled error on %s %s", request.method, request.path)
        body = {"error": {"code": "internal", "message": "服务器内部错误 / internal server error"}}
        return web.json_response(body, status=500)


def _client_gone(request: web.Request) -> bool:
    """The request's own connection is closed, so a reset came from the client, not a backend."""
    transport = request.transport
    return transport is None or transport.is_closing()
