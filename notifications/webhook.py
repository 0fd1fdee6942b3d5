"""Twilio status callbacks: POST /hooks/twilio/status?notice=<id>.

Twilio signs every callback (X-Twilio-Signature, HMAC-SHA1 of the exact URL it called plus the
sorted form fields, keyed with our auth token). Behind the county's proxy ``request.url`` is not
that URL, so we rebuild it from PUBLIC_BASE_URL + path + query. Unsigned or forged -> 403.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from twilio.request_validator import RequestValidator

from notifications.jobs import WEBHOOK_PATH
from onecard.notices import status

bp = Blueprint("notification_hooks", __name__)


def _public_url() -> str:
    base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


@bp.post(WEBHOOK_PATH)
def twilio_status():
    signature = request.headers.get("X-Twilio-Signature", "")
    form = request.form.to_dict(flat=True)
    validator = RequestValidator(current_app.config.get("TWILIO_AUTH_TOKEN", ""))
    if not signature or not validator.validate(_public_url(), form, signature):
        return jsonify(error={"code": "signature_invalid", "message": "回调签名校验失败", "field": None}), 403
    notice_id = request.args.get("notice", type=int)
    if notice_id is None:
        return jsonify(error={"code": "notice_required", "message": "缺少通知编号", "field": "notice"}), 422
    result = status.record_status(notice_id, form.get("MessageSid", ""), form.get("MessageStatus", ""),
                                  form.get("ErrorCode"))
    return jsonify(result), 200
