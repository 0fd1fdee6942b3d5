"""How each channel sends a claimed batch of notices (发送): the SMS through the configured sender, with
reconciliation before a re-send; the WeChat subscribe message through the shared WeChat client.

A send function gets the claimed rows and returns one ``Outcome`` per row; the drainer
(``notifications.jobs``) claims the rows before and writes the outcomes back after, so a send
function never changes a notice's state itself.

The notice models are imported inside the functions: ``models`` reads the channel registry (which
names these functions) for its channel check constraint.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import requests
import sqlalchemy as sa
from flask import current_app
from twilio.base.exceptions import TwilioException

from onecard.extensions import db
from onecard.notices.senders import SendResult, SmsSender
from onecard.privacy import decrypt
from onecard.timeutil import to_local
from onecard.validation import format_fen

# Keys of the arrival subscribe-message template as configured in the mini-program console.
WECHAT_FIELDS = ("thing1", "amount2", "date3", "thing4")
WECHAT_RETRY_CODES = {-1, 45009, 45011}
# What a provider call may raise when the provider (or the way to it) is in trouble. Anything else is a
# bug and propagates: the claim's lease then expires and the notice is reconciled, never sent twice.
PROVIDER_TROUBLE = (TwilioException, requests.RequestException)


@dataclass
class Outcome:
    notice_id: int
    result: SendResult
    kind: str          # sent, reconciled, retry, unknown, failed
    attempts: int
    at: datetime


@dataclass
class ClaimedBatch:
    """What a channel's send function works with: the rows one claim returned, and the drainer's tools."""
    rows: list
    claimed_at: datetime
    now: Callable[[], datetime]
    sender: SmsSender
    pace: Callable[[], None]                    # waits for the drainer's rate limit before each send
    status_callback: Callable[[int], str]       # the URL the provider reports a notice's delivery to


def send_sms(batch: ClaimedBatch) -> list[Outcome]:
    """Send each SMS of the batch; one whose earlier claim may have sent it is reconciled with the provider first."""
    outcomes = []
    for row in batch.rows:
        claim_time = batch.now()
        to = decrypt(row.recipient) if row.recipient else None
        if not to:
            outcomes.append(Outcome(row.id, SendResult("failed", code="no_mobile", error="未登记手机号码"),
                                    "failed", row.attempts, claim_time))
            continue
        # The claim sets uncertain_since to its own time only when it was empty, so an older value
        # means an earlier claim may have sent this notice: look before sending again.
        if row.uncertain_since is not None and row.uncertain_since < batch.claimed_at:
            try:
                sid = batch.sender.find_sent(to, row.body, row.uncertain_since)
            except PROVIDER_TROUBLE as exc:   # stay uncertain, try later
                outcomes.append(Outcome(row.id, SendResult("unknown", error=f"对账失败：{exc.__class__.__name__}"),
                                        "unknown", row.attempts, batch.now()))
                continue
            if sid and not _sid_owned_elsewhere(sid, row.id):
                outcomes.append(Outcome(row.id, SendResult("reconciled", sid=sid, status="sent"), "reconciled",
                                        row.attempts, batch.now()))
                continue
        batch.pace()
        result = batch.sender.send(to, row.body, batch.status_callback(row.id))
        outcomes.append(Outcome(row.id, result, result.outcome, row.attempts, batch.now()))
    return outcomes


def _sid_owned_elsewhere(sid: str, notice_id: int) -> bool:
    from onecard.notices.models import Notice
    return db.session.execute(sa.select(sa.literal(1)).where(Notice.provider_sid == sid, Notice.id != notice_id)
                              .limit(1)).first() is not None


def send_wechat(batch: ClaimedBatch) -> list[Outcome]:
    """Subscribe messages: no reconciliation is possible, so an uncertain one is never re-sent."""
    from wechatpy.exceptions import WeChatClientException, WeChatException

    from onecard import wechat
    from onecard.notices.models import WechatSubscription
    from onecard.payments.models import ArrivalEvent
    from onecard.projects.models import Project
    template_id = current_app.config.get("WECHAT_ARRIVAL_TEMPLATE_ID")
    ids = [r.event_id for r in batch.rows]
    from onecard.notices.texts import account_words
    from onecard.people.models import Resident
    events = {e.id: e for e in db.session.execute(
        sa.select(ArrivalEvent.id, ArrivalEvent.amount_fen, ArrivalEvent.account_last4, ArrivalEvent.paid_at,
                  ArrivalEvent.route, ArrivalEvent.resident_id, ArrivalEvent.payee_resident_id, Project.name,
                  Resident.name.label("payee_name"))
        .join(Project, Project.id == ArrivalEvent.project_id)
        .outerjoin(Resident, Resident.id == ArrivalEvent.payee_resident_id)
        .where(ArrivalEvent.id.in_(ids))).all()}
    db.session.commit()   # the token storage writes on its own connection: hold no transaction here
    outcomes = []
    refused = []
    granted_used = []
    for row in batch.rows:
        if row.uncertain_since is not None and row.uncertain_since < batch.claimed_at:
            outcomes.append(Outcome(row.id, SendResult("failed", code="uncertain",
                                                       error="上次发送结果不明，为免重复不再发送（短信为准）"),
                                    "failed", row.attempts, batch.now()))
            continue
        ev = events.get(row.event_id)
        data = {
            WECHAT_FIELDS[0]: {"value": ev.name[:20]},
            WECHAT_FIELDS[1]: {"value": f"¥{format_fen(ev.amount_fen)}"},
            WECHAT_FIELDS[2]: {"value": to_local(ev.paid_at).strftime("%Y-%m-%d")},
            # Where it went, as the SMS says it (the listed resident is the WeChat addressee).
            WECHAT_FIELDS[3]: {"value": (account_words(ev.route, to_payee=False, payee_name=ev.payee_name,
                                                       self_paid=ev.payee_resident_id in (None, ev.resident_id))
                                         + f"尾号{ev.account_last4}")[:20]},
        }
        try:
            res = wechat.send_subscribe_message(decrypt(row.recipient), template_id, data, page="pages/index/index")
            outcomes.append(Outcome(row.id, SendResult("sent", sid=str(res.get("msgid", "")), status="sent"),
                                    "sent", row.attempts, batch.now()))
            granted_used.append(row.resident_id)
        except WeChatClientException as exc:
            code = exc.errcode
            if code in WECHAT_RETRY_CODES:
                outcomes.append(Outcome(row.id, SendResult("retry", code=str(code), error=str(exc.errmsg)[:300]),
                                        "retry", row.attempts, batch.now()))
            else:
                if code == 43101:
                    refused.append(row.resident_id)
                outcomes.append(Outcome(row.id, SendResult("failed", code=str(code), error=str(exc.errmsg)[:300]),
                                        "failed", row.attempts, batch.now()))
        except (requests.RequestException, WeChatException) as exc:   # timeouts etc.: maybe sent; never risk a duplicate
            outcomes.append(Outcome(row.id, SendResult("failed", code="uncertain", error=exc.__class__.__name__),
                                    "failed", row.attempts, batch.now()))
    sub = WechatSubscription
    for resident_id in granted_used:
        db.session.execute(sa.update(sub).where(sub.resident_id == resident_id, sub.template_id == template_id,
                                                sub.remaining > 0).values(remaining=sub.remaining - 1))
    if refused:
        db.session.execute(sa.update(sub).where(sub.resident_id.in_(refused), sub.template_id == template_id)
                           .values(remaining=0, refused_at=batch.now()))
    return outcomes
