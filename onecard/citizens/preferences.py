"""The resident's own settings (我的设置) as the citizen doors show them."""
from __future__ import annotations

from onecard.actors import Actor
from onecard.notices import service as notices


def set_sms_opt_out(actor: Actor, resident_id: int, off: bool) -> dict:
    """到账短信开关 for the citizen doors; the rule (who may, what happens to unsent notices) lives in
    onecard.notices.service.set_sms_opt_out."""
    resident = notices.set_sms_opt_out(actor, resident_id, off)
    return {"sms_opt_out": bool(resident.sms_opt_out), "sms_notices": not resident.sms_opt_out}
