"""Delivery reports: what the provider tells us after a message was accepted."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.notices.lifecycle import NOTICE_MACHINE
from onecard.notices.models import Notice, NoticeAttempt
from onecard.timeutil import utcnow

FINAL = {"delivered", "undelivered", "failed"}
# Twilio's delivery error codes, for staff (the others show their number).
DELIVERY_ERRORS = {
    "30003": "手机无法接通（关机或停机）", "30004": "短信被拦截", "30005": "号码不存在",
    "30006": "固定电话或运营商不可达", "30007": "被运营商过滤", "30008": "未知错误",
}


def record_status(notice_id: int, sid: str, message_status: str, error_code: str | None) -> dict:
    """Record a signed status callback on the notice it names (the sid must match when one is known).

    Final statuses (delivered, undelivered, failed) move a sent notice, or one still being written
    back by its drainer; anything else (queued, sent...) is only noted. Out-of-order callbacks never
    move a notice out of a final state."""
    now = utcnow()
    notice = db.session.get(Notice, notice_id)
    if notice is None or (notice.provider_sid and notice.provider_sid != sid):
        return {"recorded": False, "reason": "unknown_notice"}
    message_status = (message_status or "").lower()
    db.session.add(NoticeAttempt(notice_id=notice_id, at=now, outcome="callback", provider_sid=sid,
                                 provider_code=error_code or None, error=message_status[:300]))
    moved = False
    if message_status in FINAL:
        values = {"state": message_status, "provider_sid": sid, "provider_status": message_status,
                  "state_changed_at": now, "claim_token": None, "lease_until": None, "uncertain_since": None}
        if message_status == "delivered":
            values["delivered_at"] = now
        else:
            values["error_code"] = error_code or None
            values["error_message"] = DELIVERY_ERRORS.get(error_code or "", "短信未能送达")
        # compare-and-set from the states the machine lets reach a final status: sent; claimed when the
        # callback beat the drainer's write-back; retry_wait when the send timed out but got through
        # (this settles the uncertainty).
        res = db.session.execute(sa.update(Notice).where(Notice.id == notice_id,
                                                         Notice.state.in_(NOTICE_MACHINE.sources(message_status)))
                                 .values(**values).execution_options(synchronize_session=False))
        moved = res.rowcount == 1
    elif message_status:
        db.session.execute(sa.update(Notice).where(Notice.id == notice_id, Notice.state == "sent")
                           .values(provider_status=message_status).execution_options(synchronize_session=False))
    db.session.commit()
    return {"recorded": True, "moved": moved}
