"""One JSON error shape for every door: ``{"error": {"code", "message", "field"}}``.

DomainError kinds (raised by services, declared in onecard.errors) keep their status and code; HTTP
errors get the Chinese message of ``onecard.errors.http_message``; webargs/marshmallow messages are
answered as one 422 naming the first field; anything unexpected is logged with the request id and
answered as 500 without internals. Page areas (H5, console) register their HTML renderers in
``app.extensions["onecard.error_pages"]`` by path prefix.
"""
from __future__ import annotations

import uuid

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from onecard.errors import DomainError, http_message
from onecard.extensions import db
from onecard.web.requests import current_request_id


def first_field_error(messages) -> tuple[str | None, str]:
    """Walk webargs' nested messages to the first field and its message, for one clear answer."""
    path: list[str] = []
    node = messages
    while isinstance(node, dict) and node:
        key = next(iter(node))
        if key not in ("json", "form", "query", "files", "headers", "view_args"):
            path.append(str(key))
        node = node[key]
    text = node[0] if isinstance(node, list) and node else str(node)
    return (".".join(path) or None), text


MARSHMALLOW_ZH = {
    "Missing data for required field.": "必填项缺失",
    "Not a valid integer.": "应为整数",
    "Not a valid string.": "应为文本",
    "Not a valid boolean.": "应为是/否",
    "Not a valid date.": "日期格式不正确（示例：2026-11-05）",
    "Unknown field.": "不认识的字段",
    "Field may not be null.": "不能为空",
    "Invalid input type.": "输入类型不正确",
    "Not a valid email address.": "邮箱格式不正确",
}


def install_error_handlers(app: Flask) -> None:
    """Register the handlers; call it after the doors, so it overrides flask-smorest's generic ones."""
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        db.session.rollback()   # a refusal never leaves half a record
        response = jsonify(exc.to_dict())
        response.status_code = exc.status
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        db.session.rollback()
        # Page areas (H5, console) answer in HTML even for URLs no route of theirs matched.
        for prefix, render in app.extensions.get("onecard.error_pages", {}).items():
            if request.path.startswith(prefix):
                return render(exc)
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages") if isinstance(data, dict) else None
        if messages:
            field, text = first_field_error(messages)
            text = MARSHMALLOW_ZH.get(text, text)
            body = {"code": "invalid", "message": f"{field}：{text}" if field else text, "field": field,
                    "details": messages}
            return jsonify(error=body), 422 if exc.code in (400, 422) else exc.code
        code, message = http_message(exc.code, exc.description)
        response = jsonify(error={"code": code, "message": message, "field": None})
        response.status_code = exc.code or 500
        if getattr(exc, "retry_after", None) is not None:   # 429 / 503: say when to come back
            response.headers["Retry-After"] = str(exc.retry_after)
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        db.session.rollback()
        rid = current_request_id() or uuid.uuid4().hex[:16]
        app.logger.exception("unhandled error request_id=%s", rid)
        return jsonify(error={"code": "internal_error", "field": None, "request_id": rid,
                              "message": f"系统内部错误，请联系管理员（编号 {rid}）"}), 500
