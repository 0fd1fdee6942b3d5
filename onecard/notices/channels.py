"""Notice channels (通知渠道): one small record per way an arrival notice reaches someone.

Shaped like ``onecard.oversight.risks.CHECKS``: a record says who receives the notice (which resident
of the arrival event is addressed), where it goes (the address taken from that resident, or why it is
skipped), how it is rendered (the stored text) and how it is sent. Filling the outbox, draining it,
the opt-out, staff retries, the API's channel filter and the notices table's channel constraint all
read ``CHANNELS``; nothing compares a channel name as a string.

The listed resident (the person the payment is for) is told by SMS, and by a WeChat subscribe message
once they granted one, in words saying where the money went (their own card, the household head's card,
the 一本通 passbook, the legal proxy's account). When the money went into someone else's card or account
(a household head, a legal proxy), that payee is told as well ("payee": addressee ``payee``), saying whose
money it is; each addressee's own SMS switch applies.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from onecard.notices import delivery, texts
from onecard.people.models import Resident
from onecard.privacy import encrypt
from onecard.validation import format_fen


# Who receives it: the resident of an arrival event whom a channel addresses (an SQL expression).
def listed_resident(e):
    """The person the payment is for (名单上的人)."""
    return e.resident_id


def payee(e):
    """The resident whose card or account received the money: the listed person, the household head or
    the legal proxy (the listed person where the event does not say)."""
    return sa.func.coalesce(e.payee_resident_id, e.resident_id)


@dataclass(frozen=True)
class Address:
    recipient: str | None          # ciphertext, decrypted only by the sender
    masked: str | None             # what staff see
    skip_reason: str | None = None  # models.SKIP_REASONS: the notice is recorded but not sent


def sms_address(row) -> Address:
    """The addressee's mobile on record when the money arrived; skipped if they switched SMS off or have none."""
    reason = "opt_out" if row.sms_opt_out else ("no_mobile" if not row.mobile_ciphertext else None)
    return Address(row.mobile_ciphertext, row.mobile_masked, reason)


def wechat_address(row) -> Address:
    return Address(encrypt(row.wechat_openid), "微信订阅消息")


def _render(row, templates: dict[str, str], signature: str, *, to_payee: bool) -> str:
    return texts.render(templates, signature, project_code=row.project_code, project_name=row.project_name,
                        period=row.period, amount_fen=row.amount_fen, last4=row.account_last4, paid_at=row.paid_at,
                        route=row.route, payee_name=row.payee_name, beneficiary_name=row.beneficiary_name,
                        per_household=bool(row.per_household), self_paid=row.payee_id == row.beneficiary_id,
                        to_payee=to_payee)


def sms_text(row, templates: dict[str, str], signature: str) -> str:
    """The arrival SMS to the listed resident from the project's template (also the text staff see for a WeChat
    notice), saying where the money went."""
    return _render(row, templates, signature, to_payee=False)


def payee_text(row, templates: dict[str, str], signature: str) -> str:
    """The SMS to a household head or legal proxy about money paid into their card or account for someone else."""
    return _render(row, templates, signature, to_payee=True)


def paid_to_someone_else(e):
    return sa.and_(e.payee_resident_id.is_not(None), e.payee_resident_id != e.resident_id)


def return_text(row, templates: dict[str, str], signature: str) -> str:
    """退汇 in plain words: the money came back, why, that it is owed again and what to do (no template: the
    bank's reason is part of it)."""
    return (f"{signature}您{texts.period_cn(row.period)}{row.project_name}{format_fen(row.amount_fen)}元"
            f"已被银行退回（原因：{row.note or '银行退回'}），未能到账。请带身份证和社保卡到发卡银行网点核实账户，"
            "账户处理好后会重新发放。")


def _arrivals(e):
    return e.kind == "arrival"


def _returns(e):
    return e.kind == "return"


def _always(cfg) -> bool:
    return True


def _wechat_configured(cfg) -> bool:
    return bool(cfg.get("WECHAT_ARRIVAL_TEMPLATE_ID"))


def _wechat_granted(stmt, cfg):
    """Only addressees who bound the mini-program and have a one-time subscription left for the template."""
    from onecard.notices.models import WechatSubscription  # models reads CHANNELS: import when used
    sub = WechatSubscription
    return (stmt.join(sub, sa.and_(sub.resident_id == Resident.id,
                                   sub.template_id == cfg.get("WECHAT_ARRIVAL_TEMPLATE_ID")))
            .where(Resident.wechat_openid.is_not(None), sub.remaining > 0))


def _no_condition(stmt, cfg):
    return stmt


@dataclass(frozen=True)
class Channel:
    code: str                                            # notices.channel (at most 8 characters)
    title: str
    send: Callable[[delivery.ClaimedBatch], list[delivery.Outcome]]
    # False: the channel's notices are not made from arrival events but written by the use case they report
    # (``service.enqueue_direct``, in its own transaction); the fields below then do not apply.
    from_events: bool = True
    address: Callable[..., Address] | None = None        # where it goes, from the addressee's row
    addressee: Callable[..., sa.ColumnElement] = listed_resident  # who receives it, from the arrival event
    render: Callable[..., str] = sms_text                # the stored text
    enabled: Callable[..., bool] = _always               # from the configuration
    eligible: Callable = _no_condition                   # narrows the candidate events (stmt, cfg) -> stmt
    # The resident's 到账短信 switch governs it: switching off skips its unsent notices, a retry is refused.
    sms_switch: bool = False
    only_when: Callable[..., sa.ColumnElement] | None = None   # a condition on the arrival event, if any


CHANNELS: list[Channel] = [
    Channel("sms", "到账短信", address=sms_address, send=delivery.send_sms, sms_switch=True, only_when=_arrivals),
    Channel("wechat", "微信订阅消息", address=wechat_address, send=delivery.send_wechat,
            enabled=_wechat_configured, eligible=_wechat_granted, only_when=_arrivals),
    Channel("payee", "收款人到账短信", address=sms_address, send=delivery.send_sms, addressee=payee,
            render=payee_text, sms_switch=True, only_when=lambda e: sa.and_(_arrivals(e), paid_to_someone_else(e))),
    # 退汇短信: a credited payment came back from the bank (payments.returns), to the listed resident
    Channel("sms_ret", "退汇短信", address=sms_address, send=delivery.send_sms, render=return_text, sms_switch=True,
            only_when=_returns),
    # 工作人员提醒: an alert to a staff member's registered mobile (onecard.alerts)
    Channel("staff", "工作人员提醒短信", send=delivery.send_sms, from_events=False),
    # 代办告知: a resident told that a village helper acted for them (onecard.citizens.assist); a safeguard, so
    # the arrival-SMS switch does not turn it off
    Channel("assist", "代办告知短信", send=delivery.send_sms, from_events=False),
]


def get(code: str) -> Channel:
    return next(c for c in CHANNELS if c.code == code)


def codes() -> list[str]:
    return [c.code for c in CHANNELS]


def from_events() -> list[Channel]:
    return [c for c in CHANNELS if c.from_events]


def active(cfg, only: tuple[str, ...] | None = None) -> list[Channel]:
    """The channels the configuration turns on (of ``only``, if given), in registry order."""
    return [c for c in CHANNELS if c.enabled(cfg) and (only is None or c.code in only)]


def switched_by_sms_opt_out() -> list[str]:
    return [c.code for c in CHANNELS if c.sms_switch]
