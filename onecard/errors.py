"""Domain errors: every refusal the services make is one of these kinds.

A service raises them with a stable machine code, a Chinese message a person
can act on and, where one input is at fault, the field's name. The HTTP doors
turn them into ``{"error": {"code", "message", "field"}}`` with the kind's status;
the CLI prints the message and exits non-zero.
"""
from __future__ import annotations


class DomainError(Exception):
    status = 400
    default_code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 details: object | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        self.details = details
        self.retry_after = retry_after   # seconds, sent as Retry-After (429, 503)

    def to_dict(self) -> dict:
        body: dict = {"code": self.code, "message": self.message, "field": self.field}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class Invalid(DomainError):
    """Input that breaks a rule: a bad ID number, an amount above the standard..."""
    status = 422
    default_code = "invalid"


class Unauthenticated(DomainError):
    status = 401
    default_code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    default_code = "forbidden"


class NotFound(DomainError):
    status = 404
    default_code = "not_found"


class Conflict(DomainError):
    """The request is well formed but the state of things refuses it (wrong state, duplicate)."""
    status = 409
    default_code = "conflict"


class TooLarge(DomainError):
    """An upload over the configured size or row limit (413)."""
    status = 413
    default_code = "too_large"


class RateLimited(DomainError):
    status = 429
    default_code = "rate_limited"


class Unavailable(DomainError):
    status = 503
    default_code = "unavailable"


# What the platform says for HTTP-level refusals (no route, wrong method, too large, too frequent): one table for
# the JSON APIs, the console and the H5 pages.
HTTP_MESSAGES = {
    400: ("bad_request", "请求格式不正确"), 401: ("unauthenticated", "请先登录"), 403: ("forbidden", "没有权限"),
    404: ("not_found", "页面或记录不存在"), 405: ("method_not_allowed", "不支持该请求方法"),
    413: ("too_large", "上传文件过大"), 415: ("unsupported_media_type", "不支持的内容类型"),
    429: ("rate_limited", "操作过于频繁，请稍后再试"),
}


def http_message(status: int | None, description: str | None = None) -> tuple[str, str]:
    """(code, Chinese message) for an HTTP error status."""
    return HTTP_MESSAGES.get(status or 500, ("http_error", description or "请求错误"))


def page_message(exc) -> str:
    """What a page says for an HTTP error: the exception's own words when they were written for people
    (``for_people``), else the status's message."""
    if getattr(exc, "for_people", False) and exc.description:
        return exc.description
    return http_message(exc.code, exc.description)[1]
