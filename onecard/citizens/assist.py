"""The village-assisted mode (村协办员代办): village (or town) staff act for a resident of their own area,
with the resident's consent for each sitting, and the resident can see everything done on their behalf.

Looking a resident up shows only masked words (name, ID, mobile) to find the right person; reading anything
of theirs (card, applications, subsidies) and acting needs a consent for this sitting (CONSENT_TTL): the SMS
code from the resident's own phone, or a photographed signed form that a second person, town staff, checks
and confirms before it counts. The consent is looked up on the server (staff member + resident), so it
survives any navigation while it is valid. Every action is audited as done on behalf of the resident, and the
resident gets an SMS for each act done for them, through the durable notice outbox (channel "assist": sent once,
retried while the provider is down, never lost with the request that did the act).
"""
from __future__ import annotations

import io
import os
import uuid
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from PIL import Image

from onecard import audit
from onecard.actors import Actor
from onecard.audit import AuditEntry
from onecard.cards.applications import (
    apply_for_card,
    card_action,
    card_view,
    check_upload,
    list_applications,
    photo_dir,
    save_upload,
)
from onecard.citizens import codes
from onecard.citizens.codes import CodeSent
from onecard.citizens.models import AssistConsent, VerificationCode
from onecard.complaints.service import file_complaint
from onecard.errors import Conflict, Forbidden, Invalid, NotFound
from onecard.extensions import db
from onecard.notices import service as notice_service
from onecard.payments.my_subsidies import my_subsidies
from onecard.people.models import Resident
from onecard.privacy import blind_indexes, mask_name
from onecard.reference.models import Village
from onecard.staff import permissions
from onecard.staff.models import StaffAccount
from onecard.timeutil import local_str, utcnow
from onecard.validation import normalize_id_number, normalize_name, normalize_text

CONSENT_TTL = timedelta(minutes=30)        # one sitting with the village staff member
FORM_CONFIRM_WITHIN = timedelta(hours=24)  # a photographed form waits this long for the town's check
FORM_MIN_SIDE = 300                        # px: smaller pictures cannot show a legible signature
FORM_MAX_PIXELS = 40_000_000               # refuse decompression bombs before decoding

permissions.register({"assist.confirm": {"town_staff"}})

# --------------------------------------------------------------------------- who acted for me

ACTION_LABELS = {
    "assist.consent": "取得您的代办授权", "assist.viewed": "查询了您的社保卡状态",
    "assist.subsidies_read": "查看了您的补贴到账记录", "card.applied": "为您申领社保卡",
    "card_application.submitted": "提交社保卡申领", "card.active": "为您激活社保卡",
    "complaint.filed": "为您提交投诉咨询", "card.lost": "为您挂失社保卡",
    "assist.consent_confirmed": "确认了您签字的代办授权书",
}


READS = ("assist.viewed", "assist.subsidies_read", "assist.consent_form_viewed")


def latest_assisted_action(resident_id: int) -> dict | None:
    """The newest act (not a look) staff did for me, which 首页 shows, or None."""
    rows = assisted_actions(resident_id, limit=1, acts_only=True)
    return rows[0] if rows else None


def assisted_actions(resident_id: int, limit: int = 100, *, acts_only: bool = False) -> list[dict]:
    """Everything staff did on my behalf (from the audit trail), newest first."""
    stmt = (sa.select(AuditEntry.at, AuditEntry.actor_label, AuditEntry.action, AuditEntry.channel)
            .where(AuditEntry.on_behalf_of == resident_id))
    if acts_only:
        stmt = stmt.where(AuditEntry.action.not_in(READS))
    rows = db.session.execute(stmt.order_by(AuditEntry.seq.desc()).limit(limit)).all()
    return [{"at": local_str(r.at), "who": r.actor_label, "action": r.action,
             "what": ACTION_LABELS.get(r.action, r.action)} for r in rows]


# --------------------------------------------------------------------------- village-assisted mode (村协办员代办)


def _assist_resident(actor: Actor, resident_id: int) -> Resident:
    resident = db.session.get(Resident, resident_id)
    if resident is None:
        raise NotFound("记录不存在", code="not_found")
    permissions.require(actor, "resident.assist", resident, hide=True)
    return resident


def _resident_brief(r: Resident, village_names: dict[int, str]) -> dict:
    return {"id": r.id, "name": mask_name(r.name), "id_masked": r.id_masked, "mobile_masked": r.mobile_masked,
            "village": village_names.get(r.village_id), "relation_to_head": r.relation_to_head}


def _helper(actor: Actor) -> str:
    """The helper's name as the resident knows it (the account's display name)."""
    return staff_label(actor.id) or actor.label.split("(")[0]


def _tell(resident: Resident, what: str, helper: str) -> None:
    """The SMS that tells the resident what was done for them, put in the outbox (commits; the acts' services
    commit their own work first, so the SMS is only ever about an act that happened)."""
    signature = current_app.config.get("SMS_SIGNATURE", "")
    notice_service.enqueue_direct(
        "assist", f"assist:{uuid.uuid4().hex}", mobile=resident.mobile, resident_id=resident.id,
        town_id=resident.town_id, village_id=resident.village_id,
        body=f"{signature}协办员{helper}已{what}。如不是您同意办理的，请联系村委会或拨打12333。"
             "可在社保卡一卡通“首页”查看代办记录。")
    db.session.commit()


def assist_search(actor: Actor, query: str) -> list[dict]:
    """Residents of the staff member's own village (town for town staff) by name or full ID number; masked."""
    permissions.require(actor, "resident.assist")
    query = normalize_text(query, field="q", max_len=40, label="姓名或身份证号")
    stmt = sa.select(Resident).where(permissions.scope_filter(actor, Resident))
    if any(ch.isdigit() for ch in query):
        stmt = stmt.where(Resident.id_bidx.in_(blind_indexes(normalize_id_number(query, field="q"), "id")))
    else:
        stmt = stmt.where(Resident.name == normalize_name(query, field="q"))
    rows = db.session.execute(stmt.order_by(Resident.id).limit(50)).scalars().all()
    names = dict(db.session.execute(sa.select(Village.id, Village.name)).all())
    return [_resident_brief(r, names) for r in rows]


def _consent_dict(c: AssistConsent) -> dict:
    status = "confirmed" if c.confirmed_at else ("refused" if c.refused_at else "pending")
    return {"consent_id": c.id, "method": c.method, "status": status, "expires_at": local_str(c.expires_at),
            "expires_in": max(0, int((c.expires_at - utcnow()).total_seconds()))}


def _newest_consent(actor: Actor, resident_id: int, *, confirmed: bool) -> AssistConsent | None:
    stmt = sa.select(AssistConsent).where(
        AssistConsent.resident_id == resident_id, AssistConsent.staff_id == actor.id,
        AssistConsent.expires_at > utcnow(), AssistConsent.refused_at.is_(None),
        AssistConsent.confirmed_at.is_not(None) if confirmed else AssistConsent.confirmed_at.is_(None))
    return db.session.execute(stmt.order_by(AssistConsent.id.desc()).limit(1)).scalar_one_or_none()


def assist_brief(actor: Actor, resident_id: int) -> dict:
    """What the helper sees before consent: the masked name and mobile, and where the consent stands."""
    resident = _assist_resident(actor, resident_id)
    live = _newest_consent(actor, resident_id, confirmed=True)
    pending = None if live else _newest_consent(actor, resident_id, confirmed=False)
    return {"id": resident.id, "name": mask_name(resident.name), "mobile_masked": resident.mobile_masked,
            "consent": _consent_dict(live) if live else None,
            "pending_consent": _consent_dict(pending) if pending else None}


def assist_view(actor: Actor, resident_id: int, consent_id: int | None = None) -> dict:
    """The card status and applications of a resident of my village, under this sitting's consent (audited)."""
    acting, _ = _require_consent(actor, resident_id, consent_id)
    view = card_view(resident_id)
    view["applications"] = list_applications(resident_id)
    audit.record("assist.viewed", actor=acting, entity_type="resident", entity_id=resident_id)
    db.session.commit()
    return view


def assist_consent_code(actor: Actor, resident_id: int) -> CodeSent:
    """Send the consent code to the resident's own phone; the resident reads it out to the staff member."""
    resident = _assist_resident(actor, resident_id)
    if not resident.mobile:
        raise Conflict("该居民没有登记手机号码，请拍照上传签字的授权书", code="no_mobile")
    codes.check_number_limit(resident.mobile_bidx)
    code = codes.new_code("assist", resident_id=resident_id, mobile_bidx=resident.mobile_bidx, staff_id=actor.id,
                          ip=actor.ip)
    db.session.commit()
    codes.send_code(resident.mobile, "assist", code, extra=f"（协办员：{_helper(actor)}）")
    return CodeSent(f"验证码已发送至居民手机 {resident.mobile_masked}，请居民告诉您", resident.mobile_masked,
                    dev_code=codes.dev_code(code))


def check_form_picture(data: bytes | None) -> None:
    """A signed form's photo must be a real picture: JPEG/PNG by its bytes, decodable, and big enough to read."""
    check_upload(data, field="form", what="签字授权书照片")
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > FORM_MAX_PIXELS:
                raise Invalid("签字授权书照片像素过大，请用手机正常拍照上传", code="form_too_large", field="form")
            img.load()          # decodes every pixel: a truncated or forged file fails here
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise Invalid("签字授权书照片无法识别，请重新拍照上传", code="form_unreadable", field="form") from exc
    if min(width, height) < FORM_MIN_SIDE:
        raise Invalid(f"签字授权书照片太小（{width}×{height}），看不清签字，请靠近重拍", code="form_too_small",
                      field="form")


def grant_consent(actor: Actor, resident_id: int, *, code: str | None = None, form: bytes | None = None) -> dict:
    """代办授权: the resident's SMS code typed in by the staff member (counts at once), or a photographed signed
    form (counts once town staff confirm it, confirm_consent)."""
    resident = _assist_resident(actor, resident_id)
    now = utcnow()
    if code:
        codes.consume_code("assist", code, [VerificationCode.resident_id == resident.id,
                                            VerificationCode.staff_id == actor.id])
        consent = AssistConsent(resident_id=resident.id, staff_id=actor.id, method="sms", confirmed_at=now,
                                expires_at=now + CONSENT_TTL)
    elif form:
        check_form_picture(form)
        path = save_upload(form, field="form", what="签字授权书照片", subdir="consents")
        consent = AssistConsent(resident_id=resident.id, staff_id=actor.id, method="form", form_path=path,
                                expires_at=now + FORM_CONFIRM_WITHIN)
    else:
        raise Invalid("请输入居民手机收到的验证码，或拍照上传签字的授权书", code="consent_required", field="code")
    db.session.add(consent)
    db.session.flush()
    audit.record("assist.consent", actor=actor.acting_for(resident.id), entity_type="assist_consent",
                 entity_id=consent.id, after={"method": consent.method,
                                              "confirmed": consent.confirmed_at is not None})
    db.session.commit()
    if consent.confirmed_at:
        _tell(resident, "取得您的代办授权（30分钟内有效）", _helper(actor))
    else:
        _tell(resident, "上传您签字的代办授权书，镇街工作人员核对后生效", _helper(actor))
    return _consent_dict(consent)


def pending_consents(actor: Actor) -> list[dict]:
    """Signed forms in my town waiting for a second person's check (town staff), oldest first."""
    permissions.require(actor, "assist.confirm")
    rows = db.session.execute(
        sa.select(AssistConsent, Resident).join(Resident, Resident.id == AssistConsent.resident_id)
        .where(permissions.scope_filter(actor, Resident), AssistConsent.method == "form",
               AssistConsent.confirmed_at.is_(None), AssistConsent.refused_at.is_(None),
               AssistConsent.expires_at > utcnow())
        .order_by(AssistConsent.id)).all()
    names = dict(db.session.execute(sa.select(Village.id, Village.name)).all())
    return [{**_consent_dict(c), "resident": _resident_brief(r, names), "helper": staff_label(c.staff_id),
             "created_at": local_str(c.created_at), "own": c.staff_id == actor.id} for c, r in rows]


def _checkable_consent(actor: Actor, consent_id: int) -> tuple[AssistConsent, Resident]:
    permissions.require(actor, "assist.confirm")
    consent = db.session.get(AssistConsent, consent_id)
    resident = db.session.get(Resident, consent.resident_id) if consent else None
    if consent is None or consent.method != "form" or not permissions.in_scope(actor, resident):
        raise NotFound("授权记录不存在", code="consent_not_found")
    return consent, resident


def consent_form_picture(actor: Actor, consent_id: int) -> tuple[bytes, str]:
    """The signed form's photo for the town checker (the look is audited)."""
    consent, resident = _checkable_consent(actor, consent_id)
    with open(os.path.join(photo_dir(), consent.form_path), "rb") as fh:
        data = fh.read()
    audit.record("assist.consent_form_viewed", actor=actor.acting_for(resident.id), entity_type="assist_consent",
                 entity_id=consent.id)
    db.session.commit()
    return data, "image/png" if consent.form_path.endswith(".png") else "image/jpeg"


def confirm_consent(actor: Actor, consent_id: int, *, approve: bool) -> dict:
    """The town's second look at a signed form: confirmed, it counts for one sitting from now; refused, never.
    The helper who uploaded it cannot confirm it."""
    consent, resident = _checkable_consent(actor, consent_id)
    if consent.staff_id == actor.id:
        raise Forbidden("自己上传的授权书须由另一位镇街工作人员确认", code="consent_own_form")
    now = utcnow()
    # Only one checker can decide, once: the update names the still-pending state.
    values = ({"confirmed_at": now, "confirmed_by_staff_id": actor.id, "expires_at": now + CONSENT_TTL}
              if approve else {"refused_at": now, "confirmed_by_staff_id": actor.id})
    done = db.session.execute(sa.update(AssistConsent).where(
        AssistConsent.id == consent.id, AssistConsent.confirmed_at.is_(None), AssistConsent.refused_at.is_(None),
        AssistConsent.expires_at > now).values(**values)).rowcount
    if done != 1:
        db.session.rollback()
        raise Conflict("这份授权书已处理或已过期", code="consent_not_pending")
    audit.record("assist.consent_confirmed" if approve else "assist.consent_refused",
                 actor=actor.acting_for(resident.id), entity_type="assist_consent", entity_id=consent.id,
                 after={"helper_id": consent.staff_id})
    db.session.commit()
    db.session.refresh(consent)
    if approve:
        _tell(resident, "提交的您签字的代办授权书经镇街核对生效（30分钟内有效）", staff_label(consent.staff_id))
    return _consent_dict(consent)


def _require_consent(actor: Actor, resident_id: int, consent_id: int | None) -> tuple[Actor, AssistConsent]:
    """This sitting's confirmed consent (the given one, or the newest live one of this helper for this resident)."""
    _assist_resident(actor, resident_id)
    consent = (db.session.get(AssistConsent, consent_id) if consent_id
               else _newest_consent(actor, resident_id, confirmed=True))
    if (consent is None or consent.resident_id != resident_id or consent.staff_id != actor.id
            or consent.confirmed_at is None or consent.refused_at is not None or consent.expires_at <= utcnow()):
        raise Forbidden("需要居民本次的授权（短信验证码，或经镇街确认的签字授权书），请先取得授权",
                        code="consent_required", field="consent_id")
    return replace(actor.acting_for(resident_id), extra={"consent_id": consent.id}), consent


def assist_apply(actor: Actor, resident_id: int, consent_id: int | None = None, **kwargs) -> dict:
    """代办申领: apply_for_card for the resident, under this sitting's consent; the resident is told by SMS."""
    acting, _ = _require_consent(actor, resident_id, consent_id)
    result = apply_for_card(acting, resident_id, **kwargs)
    _tell(db.session.get(Resident, resident_id), f"为您提交社保卡申领（{result['bank_name']}）", _helper(actor))
    return result


def assist_activate(actor: Actor, resident_id: int, consent_id: int | None = None) -> dict:
    """代办激活: the consent stands in for the activation code the resident would type."""
    acting, consent = _require_consent(actor, resident_id, consent_id)
    result = card_action(acting, resident_id, "activate", "active", None, consent=consent)
    _tell(db.session.get(Resident, resident_id), "为您激活社保卡金融功能", _helper(actor))
    return result


def assist_subsidies(actor: Actor, resident_id: int, consent_id: int | None = None, *, page: int = 1) -> dict:
    """代办查询补贴到账: the resident's subsidy page, the read audited on their behalf."""
    acting, _ = _require_consent(actor, resident_id, consent_id)
    result = my_subsidies(resident_id, page=page)
    audit.record("assist.subsidies_read", actor=acting, entity_type="resident", entity_id=resident_id)
    db.session.commit()
    return result


def assist_complaint(actor: Actor, resident_id: int, consent_id: int | None, text: str,
                     ledger_entry_id: int | None = None) -> dict:
    """代办投诉咨询: file_complaint for the resident, under this sitting's consent."""
    acting, _ = _require_consent(actor, resident_id, consent_id)
    result = file_complaint(acting, resident_id, text, ledger_entry_id=ledger_entry_id)
    _tell(db.session.get(Resident, resident_id), "为您提交投诉咨询", _helper(actor))
    return result


def staff_label(staff_id: int) -> str:
    """The display name of a staff member, or "" when there is none."""
    account = db.session.get(StaffAccount, staff_id)
    return account.display_name if account else ""
