"""Alerts to people (工作提醒, issue #17): who is told what, in the console and by SMS to a registered mobile.

The cases, each in ``KINDS`` with its audience:
* a batch's bank results arrived (``batch_results``) and a bank result file was refused (``result_refused``):
  the department's clerks (经办、审核) and finance, written by ``onecard.payments.results`` — the first in the
  results' own transaction, the second in a transaction of its own after the refusal rolled back; likewise
  credited payments the bank returned later (``payment_returned``, from ``onecard.payments.returns``);
* a batch has waited for review or approval longer than ``ALERT_APPROVAL_WAIT_HOURS`` (``approval_wait``):
  the same people;
* the SMS outbox's oldest due notice is older than ``ALERT_OUTBOX_STALE_MINUTES`` (``outbox_stale``) and a
  scheduled job has not succeeded within its period plus ``ALERT_JOB_GRACE_MINUTES`` (``job_missed``): the
  人社局's administrators.
The last three are found by ``check``, which the scheduler runs every minute. An alert is one row per thing it
is about (``dedupe_key``), so finding the same stalled batch every minute alerts once; each recipient gets a
console notice and, with a registered mobile, one SMS through the notice outbox (channel "staff", exactly once,
sent if and only if the alert commits). The SMS says what happened and where to look, never a personal number.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from onecard.actors import Actor
from onecard.alerts.models import StaffAlert, StaffAlertRecipient
from onecard.db import insert_ignore
from onecard.errors import NotFound
from onecard.extensions import db
from onecard.notices import service as notice_service
from onecard.notices.lifecycle import CLAIMABLE, STATES
from onecard.notices.models import Notice
from onecard.payments.lifecycle import BATCH_LABELS
from onecard.payments.models import Batch
from onecard.privacy import mask_text
from onecard.projects.models import Project
from onecard.serving.models import JobHeartbeat
from onecard.staff import permissions
from onecard.staff.models import StaffAccount
from onecard.timeutil import local_str, utcnow
from onecard.validation import format_yuan

permissions.register({"alert.read": permissions.ALL_STAFF})

BATCH_PEOPLE = ("department", "finance")   # the batch's department's clerks, and finance
ADMINS = ("admin",)


@dataclass(frozen=True)
class Kind:
    code: str
    title: str
    audience: tuple[str, ...]


KINDS = {k.code: k for k in (
    Kind("batch_results", "银行回盘已到", BATCH_PEOPLE),
    Kind("result_refused", "银行回盘被拒收", BATCH_PEOPLE),
    Kind("payment_returned", "已入账款项被银行退回", BATCH_PEOPLE),
    Kind("approval_wait", "批次等待审核审批超时", BATCH_PEOPLE),
    Kind("outbox_stale", "到账短信发送积压", ADMINS),
    Kind("job_missed", "定时任务未按时运行", ADMINS),
)}

# Batch states that wait on a person's review or approval, and the column saying since when.
APPROVAL_WAITS = {"submitted": "submitted_at", "reviewed": "reviewed_at"}


def _recipients(audience: tuple[str, ...], department_id: int | None) -> list[StaffAccount]:
    conditions = []
    if "department" in audience and department_id is not None:
        conditions.append(sa.and_(StaffAccount.role.in_(("dept_operator", "dept_reviewer")),
                                  StaffAccount.department_id == department_id))
    roles = [r for r in audience if r != "department"]
    if roles:
        conditions.append(StaffAccount.role.in_(roles))
    if not conditions:
        return []
    return list(db.session.execute(sa.select(StaffAccount).where(StaffAccount.active.is_(True), sa.or_(*conditions))
                                   .order_by(StaffAccount.id)).scalars())


def raise_alert(kind: str, dedupe_key: str, body: str, *, department_id: int | None = None,
                batch_id: int | None = None, now: datetime | None = None) -> StaffAlert | None:
    """Record an alert for its audience, in the caller's transaction (no commit); None when one with this key
    exists already (nobody is told twice)."""
    spec = KINDS[kind]
    now = now or utcnow()
    inserted = db.session.execute(insert_ignore(StaffAlert).returning(StaffAlert.id), [{
        "kind": kind, "dedupe_key": dedupe_key[:120], "department_id": department_id, "batch_id": batch_id,
        "title": spec.title, "body": body[:500], "created_at": now}]).first()
    if inserted is None:
        return None
    alert = db.session.get(StaffAlert, inserted.id)
    signature = current_app.config.get("SMS_SIGNATURE", "")
    for staff in _recipients(spec.audience, department_id):
        recipient = StaffAlertRecipient(alert_id=alert.id, staff_id=staff.id)
        db.session.add(recipient)
        db.session.flush()
        notice_service.enqueue_direct("staff", f"alert:{recipient.id}", mobile=staff.mobile, staff_id=staff.id,
                                      department_id=department_id, body=f"{signature}{spec.title}：{body}"
                                      "请登录一卡通平台工作台查看。", now=now)
    return alert


# ---------------------------------------------------------------- what the payment steps report

def _batch_name(batch: Batch) -> str:
    project = db.session.get(Project, batch.project_id)
    return f"{project.name if project else ''}{batch.period}批次{batch.number}"


def batch_results_arrived(batch: Batch, *, paid: int, failed: int) -> None:
    """In the results' transaction: the department and finance learn the bank answered."""
    raise_alert("batch_results", f"batch_results:{batch.id}",
                f"{_batch_name(batch)}银行回盘已到：成功{paid}笔，失败{failed}笔，请核对并处理失败记录。",
                department_id=batch.department_id, batch_id=batch.id)


def payments_returned(batch: Batch, returned: list[dict]) -> None:
    """In the returns' transaction (退汇): the department must check the accounts and re-issue."""
    fen = sum(r["amount_fen"] for r in returned)
    raise_alert("payment_returned", f"payment_returned:{batch.id}:{min(r['id'] for r in returned)}",
                f"{_batch_name(batch)}有{len(returned)}笔已入账的款项被银行退回，共{format_yuan(fen)}元，"
                "已转为应发未发，请核实账户后补发。", department_id=batch.department_id, batch_id=batch.id)


def result_refused(batch_id: int, message: str, content_digest: str) -> None:
    """After a refused result file rolled back: record the refusal in a transaction of its own (commits), so
    the people who must chase the bank know even though nothing of the file was kept. The same content
    refused again (the bank sends the same file twice) tells nobody twice."""
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        return
    raise_alert("result_refused", f"result_refused:{batch.id}:{content_digest[:64]}",
                f"{_batch_name(batch)}的银行回盘被拒收（{mask_text(message)[:150]}），请联系代发银行核实后重新提供。",
                department_id=batch.department_id, batch_id=batch.id)
    db.session.commit()


# ---------------------------------------------------------------- the periodic check

def _hours(name: str, default: float) -> float:
    value = current_app.config.get(name)
    return float(default if value is None or value == "" else value)


def oldest_due_notice(now: datetime):
    """The notice that has waited longest though due now (id, created_at), or None: held notices (quiet hours)
    and those backing off are not due, so a quiet night or a provider's Retry-After is not a stall."""
    due = sa.or_(sa.and_(Notice.state.in_(CLAIMABLE), Notice.next_attempt_at <= now),
                 sa.and_(Notice.state == "claimed", Notice.lease_until < now))
    return db.session.execute(sa.select(Notice.id, Notice.created_at).where(due)
                              .order_by(Notice.created_at, Notice.id).limit(1)).first()


def _check_approval_waits(now: datetime) -> int:
    limit = timedelta(hours=_hours("ALERT_APPROVAL_WAIT_HOURS", 72))
    n = 0
    for status, column in APPROVAL_WAITS.items():
        since = getattr(Batch, column)
        stale = db.session.execute(sa.select(Batch).where(Batch.status == status, since < now - limit)
                                   .order_by(Batch.id)).scalars().all()
        for batch in stale:
            waited = getattr(batch, column)
            hours = int((now - waited).total_seconds() // 3600)
            if raise_alert("approval_wait", f"approval_wait:{batch.id}:{status}:{waited.isoformat()}",
                           f"{_batch_name(batch)}自{local_str(waited)}起处于“{BATCH_LABELS[status]}”，已等待{hours}小时。",
                           department_id=batch.department_id, batch_id=batch.id, now=now):
                n += 1
    return n


def _check_outbox(now: datetime) -> int:
    oldest = oldest_due_notice(now)
    limit = timedelta(minutes=_hours("ALERT_OUTBOX_STALE_MINUTES", 60))
    if oldest is None or oldest.created_at >= now - limit:
        return 0
    waiting = db.session.execute(sa.select(sa.func.count()).select_from(Notice).where(
        Notice.state.in_(CLAIMABLE + ("claimed",)))).scalar()
    minutes = int((now - oldest.created_at).total_seconds() // 60)
    # one alert per stuck notice: while the same one stays the oldest, nobody is told again
    return int(raise_alert("outbox_stale", f"outbox_stale:{oldest.id}",
                           f"最早一条待发短信已等待{minutes}分钟，共{waiting}条待发送或待重试。请检查调度进程和短信通道。",
                           now=now) is not None)


def _check_jobs(now: datetime, jobs: dict[str, float], started: datetime) -> int:
    grace = timedelta(minutes=_hours("ALERT_JOB_GRACE_MINUTES", 30))
    beats = {b.job_id: b for b in db.session.execute(sa.select(JobHeartbeat)).scalars()}
    n = 0
    for job_id, period in jobs.items():
        beat = beats.get(job_id)
        last = beat.last_success_at if beat else None
        # a job that never succeeded is late once this scheduler has run longer than its period
        since = last or started
        if now - since <= timedelta(seconds=period) + grace:
            continue
        what = f"上次成功运行于{local_str(last)}" if last else "自调度进程启动以来从未成功运行"
        if beat and beat.outcome == "failed":
            what += f"，最近一次（{local_str(beat.finished_at)}）运行失败"
        if raise_alert("job_missed", f"job_missed:{job_id}:{last.isoformat() if last else 'never'}",
                       f"定时任务 {job_id} {what}。请检查调度进程日志。", now=now):
            n += 1
    return n


def check(now: datetime | None = None, *, jobs: dict[str, float] | None = None,
          started: datetime | None = None) -> dict:
    """The scheduler's periodic run: alert on batches waiting too long, a stalled outbox and missed jobs.
    ``jobs`` is the scheduler's timetable (job id -> the longest it may go between runs, in seconds) and
    ``started`` when that scheduler started (a job that never succeeded is late once the scheduler has run
    longer than its period). Commits."""
    now = now or utcnow()
    found = {"approval_wait": _check_approval_waits(now), "outbox_stale": _check_outbox(now),
             "job_missed": _check_jobs(now, jobs or {}, started or now)}
    db.session.commit()
    return found


# ---------------------------------------------------------------- what staff read

def _mine(actor: Actor):
    return sa.select(StaffAlertRecipient, StaffAlert).join(StaffAlert, StaffAlert.id == StaffAlertRecipient.alert_id)\
        .where(StaffAlertRecipient.staff_id == actor.id)


def alert_view(recipient: StaffAlertRecipient, alert: StaffAlert, sms: Notice | None) -> dict:
    if sms is None:
        sms_state = None
    elif sms.skip_reason == "no_mobile":
        sms_state = "未登记手机号，未发短信"
    else:
        sms_state = STATES.get(sms.state, sms.state)
    return {"id": alert.id, "kind": alert.kind, "title": alert.title, "body": alert.body,
            "batch_id": alert.batch_id, "created_at": alert.created_at, "read": recipient.read_at is not None,
            "read_at": recipient.read_at, "sms": sms_state, "sms_to": sms.recipient_masked if sms else None}


def list_alerts(actor: Actor, *, unread_only: bool = False, limit: int = 50, offset: int = 0) -> dict:
    """The signed-in staff member's alerts, newest first, with the unread count."""
    permissions.require(actor, "alert.read")
    stmt = _mine(actor)
    if unread_only:
        stmt = stmt.where(StaffAlertRecipient.read_at.is_(None))
    rows = db.session.execute(stmt.order_by(StaffAlert.id.desc()).limit(limit).offset(offset)).all()
    sms = notice_service.direct_states("staff", [f"alert:{r.id}" for r, _ in rows])
    return {"unread": unread_count(actor),
            "items": [alert_view(r, a, sms.get(f"alert:{r.id}")) for r, a in rows]}


def unread_count(actor: Actor) -> int:
    if actor.kind != "staff" or actor.id is None:
        return 0
    return db.session.execute(sa.select(sa.func.count()).select_from(StaffAlertRecipient).where(
        StaffAlertRecipient.staff_id == actor.id, StaffAlertRecipient.read_at.is_(None))).scalar()


def mark_read(actor: Actor, alert_id: int | None = None) -> int:
    """Mark one alert (or, with None, all) of the signed-in staff member read; another's alert is not found."""
    permissions.require(actor, "alert.read")
    where = [StaffAlertRecipient.staff_id == actor.id, StaffAlertRecipient.read_at.is_(None)]
    if alert_id is not None:
        exists = db.session.execute(sa.select(StaffAlertRecipient.id).where(
            StaffAlertRecipient.staff_id == actor.id, StaffAlertRecipient.alert_id == alert_id)).first()
        if exists is None:
            raise NotFound("提醒不存在", code="alert_not_found", field="alert_id")
        where.append(StaffAlertRecipient.alert_id == alert_id)
    n = db.session.execute(sa.update(StaffAlertRecipient).where(*where).values(read_at=utcnow())
                           .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return n
