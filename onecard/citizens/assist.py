"""The village-assisted mode (村协办员代办): village (or town) staff act for a resident of their own area,
with the resident's consent for each sitting, and the resident can see everything done on their behalf.

Looking a resident up and viewing their card needs no consent (the look is audited); acting needs a
consent given by the SMS code on the resident's own phone or a photographed signed form, valid for one
sitting (CONSENT_TTL). Every action is audited as done on behalf of the resident.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.audit import AuditEntry
from onecard.cards.applications import apply_for_card, card_action, card_view, list_applications, save_upload
from onecard.citizens import codes
from onecard.citizens.codes import CodeSent
from onecard.citizens.models import AssistConsent, VerificationCode
from onecard.complaints.service import file_complaint
from onecard.errors import Conflict, Forbidden, Invalid, NotFound
from onecard.extensions import db
from onecard.payments.my_subsidies import my_subsidies
from onecard.people.models import Resident
from onecard.privacy import blind_indexes
from onecard.reference.models import Village
from onecard.staff import permissions
from onecard.staff.models import StaffAccount
from onecard.timeutil import local_str, utcnow
from onecard.validation import normalize_id_number, normalize_name, normalize_text

CONSENT_TTL = timedelta(minutes=30)        # one sitting with the village staff member

# --------------------------------------------------------------------------- who acted for me

ACTION_LABELS = {
    "assist.consent": "取得您的代办授权", "assist.viewed": "查询了您的社保卡状态",
    "assist.subsidies_read": "查看了您的补贴到账记录", "card.applied": "为您申领社保卡",
    "card_application.submitted": "提交社保卡申领", "card.active": "为您激活社保卡",
    "complaint.filed": "为您提交投诉咨询", "card.lost": "为您挂失社保卡",
}


def assisted_actions(resident_id: int, limit: int = 100) -> list[dict]:
    """Everything staff did on my behalf (from the audit trail), newest first."""
    rows = db.session.execute(
        sa.select(AuditEntry.at, AuditEntry.actor_label, AuditEntry.action, AuditEntry.channel)
        .where(AuditEntry.on_behalf_of == resident_id).order_by(AuditEntry.seq.desc()).limit(limit)).all()
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
    return {"id": r.id, "name": r.name, "id_masked": r.id_masked, "mobile_masked": r.mobile_masked,
            "village": village_names.get(r.village_id), "relation_to_head": r.relation_to_head}


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


def assist_view(actor: Actor, resident_id: int) -> dict:
    """The card status of a resident of my village (no consent needed to look; the look is audited)."""
    actor = actor.acting_for(_assist_resident(actor, resident_id).id)
    view = card_view(resident_id)
    view["applications"] = list_applications(resident_id)
    audit.record("assist.viewed", actor=actor, entity_type="resident", entity_id=resident_id)
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
    label = actor.label.split("(")[0]
    codes.send_code(resident.mobile, "assist", code, extra=f"（协办员：{label}）")
    return CodeSent(f"验证码已发送至居民手机 {resident.mobile_masked}，请居民告诉您", resident.mobile_masked,
                    dev_code=codes.dev_code(code))


def grant_consent(actor: Actor, resident_id: int, *, code: str | None = None, form: bytes | None = None) -> dict:
    """代办授权: the resident's SMS code typed in by the staff member, or a photographed signed form."""
    resident = _assist_resident(actor, resident_id)
    if code:
        codes.consume_code("assist", code, [VerificationCode.resident_id == resident.id,
                                            VerificationCode.staff_id == actor.id])
        method, path = "sms", None
    elif form:
        method, path = "form", save_upload(form, field="form", what="签字授权书照片", subdir="consents")
    else:
        raise Invalid("请输入居民手机收到的验证码，或拍照上传签字的授权书", code="consent_required", field="code")
    consent = AssistConsent(resident_id=resident.id, staff_id=actor.id, method=method, form_path=path,
                            expires_at=utcnow() + CONSENT_TTL)
    db.session.add(consent)
    db.session.flush()
    audit.record("assist.consent", actor=actor.acting_for(resident.id), entity_type="assist_consent",
                 entity_id=consent.id, after={"method": method})
    db.session.commit()
    return {"consent_id": consent.id, "method": method, "expires_at": local_str(consent.expires_at)}


def _require_consent(actor: Actor, resident_id: int, consent_id: int | None) -> tuple[Actor, AssistConsent]:
    _assist_resident(actor, resident_id)
    consent = db.session.get(AssistConsent, consent_id or 0)
    if (consent is None or consent.resident_id != resident_id or consent.staff_id != actor.id
            or consent.expires_at <= utcnow()):
        raise Forbidden("需要居民本次的授权（短信验证码或签字授权书），请先取得授权", code="consent_required",
                        field="consent_id")
    return replace(actor.acting_for(resident_id), extra={"consent_id": consent.id}), consent


def assist_apply(actor: Actor, resident_id: int, consent_id: int, **kwargs) -> dict:
    """代办申领: apply_for_card for the resident, under this sitting's consent."""
    acting, _ = _require_consent(actor, resident_id, consent_id)
    return apply_for_card(acting, resident_id, **kwargs)


def assist_activate(actor: Actor, resident_id: int, consent_id: int) -> dict:
    """代办激活: the consent stands in for the activation code the resident would type."""
    acting, consent = _require_consent(actor, resident_id, consent_id)
    return card_action(acting, resident_id, "activate", "active", None, consent=consent)


def assist_subsidies(actor: Actor, resident_id: int, consent_id: int, *, page: int = 1) -> dict:
    """代办查询补贴到账: the resident's subsidy page, the read audited on their behalf."""
    acting, _ = _require_consent(actor, resident_id, consent_id)
    result = my_subsidies(resident_id, page=page)
    audit.record("assist.subsidies_read", actor=acting, entity_type="resident", entity_id=resident_id)
    db.session.commit()
    return result


def assist_complaint(actor: Actor, resident_id: int, consent_id: int, text: str,
                     ledger_entry_id: int | None = None) -> dict:
    """代办投诉咨询: file_complaint for the resident, under this sitting's consent."""
    acting, _ = _require_consent(actor, resident_id, consent_id)
    return file_complaint(acting, resident_id, text, ledger_entry_id=ledger_entry_id)


def staff_label(staff_id: int) -> str:
    """The display name of a staff member, or "" when there is none."""
    account = db.session.get(StaffAccount, staff_id)
    return account.display_name if account else ""
