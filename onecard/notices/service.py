"""Use cases of the arrival notices (到账通知): filling the outbox, staff views and retries, opt-out.

``enqueue_arrivals`` is what the scheduler calls; the other functions are what staff, residents
(through the citizen service) and the bureau may do. Sending lives in ``onecard.notices.channels`` and the drainer ``notifications.jobs``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from onecard import audit, settings_store
from onecard.actors import Actor
from onecard.db import insert_ignore, upsert
from onecard.errors import Forbidden, Invalid, NotFound
from onecard.extensions import db
from onecard.notices import channels, texts
from onecard.notices.lifecycle import NOTICE_MACHINE, SKIPPABLE
from onecard.notices.models import (
    SKIP_REASONS,
    Notice,
    NoticeAttempt,
    NoticeTemplate,
    WechatSubscription,
)
from onecard.payments.models import ArrivalEvent
from onecard.people.models import Resident
from onecard.privacy import encrypt, mask_mobile
from onecard.projects.models import Project
from onecard.staff import permissions
from onecard.timeutil import utcnow

permissions.register({
    "notice.read": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer", "town_staff", "village_staff"},
    "notice.retry": {"admin", "dept_operator"},
    "notice.template": {"admin"},
    "notice.template.read": {"admin", "auditor", "dept_operator", "dept_reviewer"},
    "notice.opt_out": {"admin", "town_staff", "village_staff"},
})

ENQUEUE_CHUNK = 5000


def _new_events(channel: channels.Channel, cfg, limit: int = ENQUEUE_CHUNK):
    """Arrival events without a notice on ``channel`` yet, each with the resident the channel addresses."""
    e, r, p = ArrivalEvent, Resident, Project
    beneficiary, paid = aliased(Resident), aliased(Resident)
    stmt = (sa.select(e.id, e.payment_key, r.id.label("resident_id"), e.project_id, e.period, e.amount_fen,
                      e.account_last4, e.paid_at, e.route, p.code.label("project_code"), p.name.label("project_name"),
                      p.per_household, p.department_id, r.town_id, r.village_id,
                      sa.type_coerce(r.mobile, sa.String).label("mobile_ciphertext"), r.mobile_masked,
                      r.sms_opt_out, r.wechat_openid, beneficiary.id.label("beneficiary_id"),
                      beneficiary.name.label("beneficiary_name"), paid.id.label("payee_id"),
                      paid.name.label("payee_name"), e.note)
            .join(r, r.id == channel.addressee(e)).join(p, p.id == e.project_id)
            .join(beneficiary, beneficiary.id == e.resident_id)
            .join(paid, paid.id == channels.payee(e)))
    stmt = channel.eligible(stmt, cfg)
    if channel.only_when is not None:
        stmt = stmt.where(channel.only_when(e))
    exists = sa.select(sa.literal(1)).where(Notice.event_id == e.id, Notice.channel == channel.code)
    return stmt.where(~sa.exists(exists)).order_by(e.id).limit(limit)


def new_notices(channel: channels.Channel, *, limit: int = ENQUEUE_CHUNK, now=None,
                templates: dict[str, str] | None = None) -> list[dict]:
    """The next notices ``channel`` adds to the outbox, as rows to insert: one for each arrival event it
    has none for yet (up to ``limit``), addressed, rendered and (when its address says so) skipped as
    its record in ``channels.CHANNELS`` says. Reads only; ``enqueue_arrivals`` inserts them."""
    cfg = current_app.config
    templates = texts.load_templates() if templates is None else templates
    signature = cfg.get("SMS_SIGNATURE", "")
    now = now or utcnow()
    out = []
    for row in db.session.execute(_new_events(channel, cfg, limit=limit)):
        address = channel.address(row)
        out.append({"event_id": row.id, "channel": channel.code, "payment_key": row.payment_key,
                    "resident_id": row.resident_id, "project_id": row.project_id, "period": row.period,
                    "department_id": row.department_id, "town_id": row.town_id, "village_id": row.village_id,
                    "recipient": address.recipient, "recipient_masked": address.masked,
                    "body": channel.render(row, templates, signature),
                    "state": "skipped" if address.skip_reason else "pending", "skip_reason": address.skip_reason,
                    "attempts": 0, "next_attempt_at": now, "created_at": now, "state_changed_at": now})
    return out


def enqueue_arrivals(*, chunk: int = ENQUEUE_CHUNK) -> dict:
    """Turn new arrival events into notices, one per event on each channel the configuration turns on
    (``channels.CHANNELS``): an SMS to the listed resident (skipped with a reason when they switched
    SMS off or have no mobile), a WeChat notice when they bound the mini-program and granted the
    arrival template, and an SMS to the payee when the money went into a household head's or a legal
    proxy's card or account. Set-based and idempotent: a replayed event, or a second scheduler enqueueing at the
    same time, adds nothing. Commits per chunk. Returns the count per channel (and of skipped SMS)."""
    templates = texts.load_templates()
    now = utcnow()
    counts: dict[str, int] = {}
    for channel in channels.from_events():
        counts[channel.code] = 0
        if channel.sms_switch:
            counts[f"{channel.code}_skipped"] = 0
    for channel in channels.active(current_app.config):
        if not channel.from_events:
            continue
        while rows := new_notices(channel, limit=chunk, now=now, templates=templates):
            # Count what this call inserted (RETURNING gives only those), not what it tried: a second scheduler
            # enqueueing the same events at the same time adds nothing and must say so (issue #16).
            inserted = db.session.execute(insert_ignore(Notice).returning(Notice.skip_reason), rows).all()
            db.session.commit()
            for row in inserted:
                counts[f"{channel.code}_skipped" if row.skip_reason else channel.code] += 1
    db.session.commit()
    return counts


def enqueue_direct(channel_code: str, subject_key: str, *, mobile: str | None, body: str,
                   resident_id: int | None = None, staff_id: int | None = None, department_id: int | None = None,
                   town_id: int | None = None, village_id: int | None = None, now=None) -> bool:
    """Put one SMS that is not about an arrival event into the outbox, in the caller's transaction (no commit):
    it is sent exactly once by the drainer if and only if what it reports commits. ``subject_key`` is unique per
    channel, so writing the same subject twice adds nothing (returns False). No mobile: recorded as skipped.
    The caller words ``body`` without any personal number (it is stored and shown to staff as it is)."""
    channel = channels.get(channel_code)
    if channel.from_events:
        raise ValueError(f"channel {channel_code!r} is filled from arrival events")
    now = now or utcnow()
    row = {"channel": channel_code, "subject_key": subject_key, "resident_id": resident_id, "staff_id": staff_id,
           "department_id": department_id, "town_id": town_id, "village_id": village_id,
           "recipient": encrypt(mobile) if mobile else None, "recipient_masked": mask_mobile(mobile),
           "body": body, "state": "pending" if mobile else "skipped",
           "skip_reason": None if mobile else "no_mobile", "attempts": 0, "next_attempt_at": now,
           "created_at": now, "state_changed_at": now}
    return bool(db.session.execute(insert_ignore(Notice).returning(Notice.id), [row]).all())


def direct_states(channel_code: str, subject_keys: list[str]) -> dict[str, Notice]:
    """The outbox rows of notices written by ``enqueue_direct``, by subject key (what became of each SMS)."""
    if not subject_keys:
        return {}
    rows = db.session.execute(sa.select(Notice).where(Notice.channel == channel_code,
                                                      Notice.subject_key.in_(subject_keys))).scalars()
    return {n.subject_key: n for n in rows}


# ---------------------------------------------------------------- residents' choice

def set_sms_opt_out(actor: Actor, resident_id: int, off: bool) -> Resident:
    """A resident switches the arrival SMS off (off=True) or back on, themselves (citizen actor for
    that resident) or assisted by town/village staff in scope. Switching off also skips SMS notices
    not yet sent; switching on affects only payments from now on. Audited."""
    resident = db.session.get(Resident, resident_id)
    if resident is None:
        raise NotFound("居民不存在", code="resident_not_found", field="resident_id")
    if actor.kind == "citizen":
        if actor.id != resident_id:
            raise Forbidden("只能设置本人的到账短信", code="forbidden_scope")
    elif actor.kind == "staff":
        permissions.require(actor, "notice.opt_out", resident)
    elif actor.kind != "system":
        raise Forbidden("没有权限", code="forbidden")
    before = bool(resident.sms_opt_out)
    resident.sms_opt_out = bool(off)
    skipped = 0
    if off:
        skipped = db.session.execute(
            sa.update(Notice).where(Notice.resident_id == resident_id,
                                    Notice.channel.in_(channels.switched_by_sms_opt_out()),
                                    Notice.state.in_(SKIPPABLE))
            .values(state="skipped", skip_reason="opt_out", state_changed_at=utcnow())
            .execution_options(synchronize_session=False)).rowcount
    audit.record("resident.sms_opt_out" if off else "resident.sms_opt_in", actor=actor, entity_type="resident",
                 entity_id=resident_id, before={"sms_opt_out": before}, after={"sms_opt_out": bool(off),
                                                                               "skipped_notices": skipped},
                 on_behalf_of=resident_id if actor.kind == "staff" else None)
    db.session.commit()
    return resident


def grant_wechat_subscription(actor: Actor, resident_id: int, template_id: str, times: int = 1) -> WechatSubscription:
    """Record that a resident accepted ``times`` one-time subscribe messages for a template (the
    mini-program reports wx.requestSubscribeMessage's answer). Only the resident or the system."""
    if actor.kind == "citizen" and actor.id != resident_id:
        raise Forbidden("只能为本人登记订阅", code="forbidden_scope")
    if actor.kind not in ("citizen", "system"):
        raise Forbidden("没有权限", code="forbidden")
    if not template_id or times < 1 or times > 100:
        raise Invalid("订阅模板或次数不正确", code="subscription_invalid", field="times")
    sub = db.session.execute(sa.select(WechatSubscription).where(
        WechatSubscription.resident_id == resident_id, WechatSubscription.template_id == template_id)
    ).scalar_one_or_none()
    if sub is None:
        sub = WechatSubscription(resident_id=resident_id, template_id=template_id, remaining=0)
        db.session.add(sub)
        db.session.flush()
    sub.remaining = sub.remaining + times
    sub.refused_at = None
    audit.record("wechat.subscription_granted", actor=actor, entity_type="resident", entity_id=resident_id,
                 after={"template_id": template_id, "remaining": sub.remaining})
    db.session.commit()
    return sub


def arrival_subscription(resident_id: int) -> dict:
    """到账订阅消息 for the mini-program's settings: the configured arrival template the resident is asked
    to accept (None while WeChat messages are off) and how many one-time messages are still granted."""
    template_id = current_app.config.get("WECHAT_ARRIVAL_TEMPLATE_ID") or None
    remaining = 0
    if template_id:
        remaining = db.session.execute(sa.select(WechatSubscription.remaining).where(
            WechatSubscription.resident_id == resident_id, WechatSubscription.template_id == template_id)
        ).scalar() or 0
    return {"template_id": template_id, "remaining": remaining}


def accept_arrival_subscription(actor: Actor, resident_id: int, template_id: str) -> dict:
    """The resident accepted the arrival template in wx.requestSubscribeMessage: one more arrival message
    may be sent. Refuses while WeChat messages are off and any template but the configured one (a grant
    for another template would never be used, and the count must mean what the resident agreed to)."""
    configured = current_app.config.get("WECHAT_ARRIVAL_TEMPLATE_ID")
    if not configured:
        raise Invalid("微信到账提醒暂未开通", code="wechat_messages_off", field="template_id")
    if template_id != configured:
        raise Invalid("订阅的消息模板不正确，请重新进入小程序再试", code="subscription_invalid", field="template_id")
    grant_wechat_subscription(actor, resident_id, template_id, times=1)
    return arrival_subscription(resident_id)


# ---------------------------------------------------------------- templates

def _template_key(project_code: str | None) -> str:
    """'default' (or blank) is the county-wide text; anything else must be a project the bureau coded, so a
    mistyped code cannot hold a text that never applies."""
    key = (project_code or "").strip()
    if key in ("", "default", texts.DEFAULT_KEY):
        return texts.DEFAULT_KEY
    if db.session.execute(sa.select(Project.id).where(Project.code == key)).first() is None:
        raise NotFound(f"没有统一编码为{key}的项目", code="project_not_found", field="project_code")
    return key


def set_template(actor: Actor, project_code: str | None, body: str) -> NoticeTemplate:
    """The bureau sets the SMS text for one project code (or the default with project_code None)."""
    permissions.require(actor, "notice.template")
    body = texts.check_template(body)
    key = _template_key(project_code)
    row = db.session.execute(sa.select(NoticeTemplate).where(NoticeTemplate.project_code == key)).scalar_one_or_none()
    before = row.body if row else None
    if row is None:
        row = NoticeTemplate(project_code=key, body=body)
        db.session.add(row)
    else:
        row.body = body
    db.session.flush()
    audit.record("notice.template", actor=actor, entity_type="notice_template", entity_id=key,
                 before={"body": before}, after={"body": body})
    db.session.commit()
    return row


def reset_template(actor: Actor, project_code: str | None) -> None:
    """Drop a project's own text (its notices fall back to the default), or the default back to the built-in."""
    permissions.require(actor, "notice.template")
    key = _template_key(project_code)
    row = db.session.execute(sa.select(NoticeTemplate).where(NoticeTemplate.project_code == key)).scalar_one_or_none()
    if row is None:
        raise NotFound("该项目没有单独设置短信模板", code="notice_template_not_found", field="project_code")
    audit.record("notice.template", actor=actor, entity_type="notice_template", entity_id=key,
                 before={"body": row.body}, after={"body": None})
    db.session.delete(row)
    db.session.commit()


def template_view(actor: Actor, row: NoticeTemplate) -> dict:
    """One stored template as ``list_templates`` shows it (after an edit)."""
    key = "default" if row.project_code == texts.DEFAULT_KEY else row.project_code
    return next(t for t in list_templates(actor) if t["project_code"] == key)


def list_templates(actor: Actor) -> list[dict]:
    """The default text and every project override, each with the SMS it produces for a sample payment."""
    permissions.require(actor, "notice.template.read")
    stored = {r.project_code: r for r in db.session.execute(sa.select(NoticeTemplate)).scalars()}
    names = dict(db.session.execute(sa.select(Project.code, Project.name)
                                    .where(Project.code.in_([k for k in stored if k != texts.DEFAULT_KEY]))).all())
    templates = {k: r.body for k, r in stored.items()}
    signature = current_app.config.get("SMS_SIGNATURE", "")
    default = stored.get(texts.DEFAULT_KEY)
    out = [{"project_code": "default", "project_name": None, "body": default.body if default else texts.DEFAULT_TEMPLATE,
            "built_in": default is None, "updated_at": default.updated_at if default else None}]
    out += [{"project_code": k, "project_name": names.get(k), "body": r.body, "built_in": False,
             "updated_at": r.updated_at} for k, r in sorted(stored.items()) if k != texts.DEFAULT_KEY]
    for item in out:
        code = None if item["project_code"] == "default" else item["project_code"]
        item["preview"] = texts.render(templates, signature, project_code=code,
                                      project_name=item["project_name"] or "城乡居民基础养老金", period="2026-11",
                                      amount_fen=18300, last4="1234", paid_at=utcnow())
    return out


# ---------------------------------------------------------------- staff views

@dataclass
class NoticeFilter:
    batch_id: int | None = None
    resident_id: int | None = None
    project_id: int | None = None
    period: str | None = None
    state: str | None = None
    channel: str | None = None


def _batch_condition(batch_id: int):
    """Notices of a batch: payment_key 'line:<id>' of the batch's lines. The ledger always knows the
    paid lines; the disbursement package's batch_lines table is used as well when it exists."""
    from onecard.payments.models import LedgerEntry
    keys = sa.select(sa.literal("line:") + sa.cast(LedgerEntry.line_id, sa.String)).where(
        LedgerEntry.batch_id == batch_id)
    if sa.inspect(db.engine).has_table("batch_lines"):
        bl = sa.table("batch_lines", sa.column("id", sa.Integer), sa.column("batch_id", sa.Integer))
        keys = sa.union(keys, sa.select(sa.literal("line:") + sa.cast(bl.c.id, sa.String))
                        .where(bl.c.batch_id == batch_id))
    return Notice.payment_key.in_(keys)


def list_notices(actor: Actor, flt: NoticeFilter, *, limit: int = 200, offset: int = 0) -> list[Notice]:
    """What was sent, delivered or failed and why, per batch or per resident, within the actor's scope."""
    permissions.require(actor, "notice.read")
    if flt.batch_id is None and flt.resident_id is None and flt.project_id is None:
        raise Invalid("请按批次、居民或项目查询到账通知", code="notice_filter_required", field="batch_id")
    stmt = sa.select(Notice).where(Notice.event_id.is_not(None), permissions.scope_filter(actor, Notice))
    if flt.batch_id is not None:
        stmt = stmt.where(_batch_condition(flt.batch_id))
    if flt.resident_id is not None:
        stmt = stmt.where(Notice.resident_id == flt.resident_id)
    if flt.project_id is not None:
        stmt = stmt.where(Notice.project_id == flt.project_id)
    if flt.period:
        stmt = stmt.where(Notice.period == flt.period)
    if flt.state:
        stmt = stmt.where(Notice.state == flt.state)
    if flt.channel:
        stmt = stmt.where(Notice.channel == flt.channel)
    return list(db.session.execute(stmt.order_by(Notice.id).limit(limit).offset(offset)).scalars())


def get_notice(actor: Actor, notice_id: int) -> tuple[Notice, list[NoticeAttempt]]:
    """One notice with every attempt, for staff in scope (404 outside it)."""
    notice = db.session.get(Notice, notice_id)
    if notice is None or notice.event_id is None:   # staff alerts are read with their alert (onecard.alerts)
        raise NotFound("通知不存在", code="notice_not_found")
    permissions.require(actor, "notice.read", notice, hide=True)
    attempts = db.session.execute(sa.select(NoticeAttempt).where(NoticeAttempt.notice_id == notice_id)
                                  .order_by(NoticeAttempt.id)).scalars().all()
    return notice, list(attempts)


def retry_notice(actor: Actor, notice_id: int) -> Notice:
    """Staff put a failed, undelivered or skipped notice back in the outbox (admin, department
    operators for their projects). Refuses a resident who switched SMS off, and notices still in flight."""
    notice = db.session.get(Notice, notice_id)
    if notice is None or notice.event_id is None:
        raise NotFound("通知不存在", code="notice_not_found")
    permissions.require(actor, "notice.retry", notice)
    if channels.get(notice.channel).sms_switch:
        resident = db.session.get(Resident, notice.resident_id)
        if resident.sms_opt_out:
            raise Invalid("该居民已关闭到账短信，不能重发", code="notice_opted_out", field="notice_id")
        if not notice.recipient:
            raise Invalid("该居民未登记手机号码，请先登记后再重发", code="notice_no_mobile", field="notice_id")
    NOTICE_MACHINE.transition(notice, "pending", actor, action="notice.retry", extra_values={
        "next_attempt_at": utcnow(), "attempts": 0, "error_code": None, "error_message": None,
        "skip_reason": None, "claim_token": None, "lease_until": None},
        audit_after={"previous_error": notice.error_code})
    db.session.commit()
    return notice


def skip_label(reason: str | None) -> str | None:
    return SKIP_REASONS.get(reason, reason) if reason else None


# ---------------------------------------------------------------- sender pauses (429 Retry-After)
_PAUSE_KEY = "notice_pause:"


def pause_sender(channel: str, until: datetime, reason: str) -> None:
    """Record that ``channel``'s provider asked us to stop sending until ``until`` (naive UTC): every drainer
    reads it before claiming, so the pause holds across scheduler processes. Commits (the drainer's own step)."""
    from onecard.settings_store import SiteSetting
    value = json.dumps({"until": until.isoformat(), "reason": reason})
    stmt = upsert(SiteSetting.__table__).values(key=_PAUSE_KEY + channel, value=value)
    db.session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
    db.session.commit()


def paused_until(channel: str, now: datetime) -> datetime | None:
    """When ``channel``'s pause ends, if it is paused at ``now``."""
    raw = settings_store.get(_PAUSE_KEY + channel)
    if not raw:
        return None
    until = datetime.fromisoformat(json.loads(raw)["until"])
    return until if until > now else None


def sender_pauses(now: datetime | None = None) -> dict[str, dict]:
    """The channels whose provider asked us to slow down and have not resumed yet, for the notices status:
    {channel: {"until", "reason", "seconds_left"}}."""
    now = now or utcnow()
    out = {}
    for code in channels.codes():
        raw = settings_store.get(_PAUSE_KEY + code)
        if not raw:
            continue
        data = json.loads(raw)
        until = datetime.fromisoformat(data["until"])
        if until > now:
            out[code] = {"until": until, "reason": data["reason"], "seconds_left": (until - now).total_seconds()}
    return out


def sender_status(actor: Actor) -> list[dict]:
    """Staff reading the notices see which channel is paused by its provider, and until when."""
    permissions.require(actor, "notice.read")
    return [{"channel": code, **pause} for code, pause in sender_pauses().items()]
