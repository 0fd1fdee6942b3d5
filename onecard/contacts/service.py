"""Department contacts (附件4 联络人): a department operator keeps its own; the bureau sees and keeps all.

Department operators and reviewers see only their own department's contacts
(another department's contact answers 404); other staff roles read all, so the
bureau, finance and banks know whom to call. Every change is audited with the
phone number masked.
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.contacts.models import CONTACT_KINDS, DepartmentContact
from onecard.errors import Invalid, NotFound
from onecard.extensions import db
from onecard.privacy import mask_phone
from onecard.reference.models import Department
from onecard.staff import permissions
from onecard.validation import normalize_name, normalize_phone, normalize_text

DEPARTMENT_ROLES = frozenset({"dept_operator", "dept_reviewer"})

permissions.register({
    "contact.read": permissions.ALL_STAFF,
    "contact.manage": {"admin", "dept_operator"},
})

_KIND_WORDS = {**{v: k for k, v in CONTACT_KINDS.items()}, **{k: k for k in CONTACT_KINDS}, "负责人": "leader",
               "分管领导": "leader", "领导": "leader", "联系人": "contact"}


def clean_contact(values: dict, *, partial: bool) -> dict:
    """The one validation of a contact's fields (API, console and attachment-4 import)."""
    out: dict = {}

    def has(key):
        return key in values or not partial

    if has("kind"):
        kind = _KIND_WORDS.get("".join(str(values.get("kind") or "").split()))
        if kind is None:
            raise Invalid("类型可选：leader（分管负责人）、contact（联络人）", code="contact_kind", field="kind")
        out["kind"] = kind
    if has("name"):
        out["name"] = normalize_name(values.get("name"))
    if has("position"):
        out["position"] = normalize_text(values.get("position"), field="position", max_len=100, label="单位及职务")
    if has("phone"):
        phone = normalize_phone(values.get("phone"))
        out["phone"], out["phone_masked"] = phone, mask_phone(phone)
    if has("note"):
        out["note"] = normalize_text(values.get("note"), field="note", max_len=200, required=False, label="备注")
    return out


def _snapshot(c: DepartmentContact) -> dict:
    return {"department_id": c.department_id, "kind": c.kind, "name": c.name, "position": c.position,
            "phone": c.phone_masked, "note": c.note}


def _load(actor: Actor, contact_id: int, action: str) -> DepartmentContact:
    permissions.require(actor, action)
    contact = db.session.get(DepartmentContact, contact_id)
    if contact is None or (actor.kind == "staff" and actor.role in DEPARTMENT_ROLES
                           and contact.department_id != actor.department_id):
        raise NotFound("联络人不存在", code="contact_not_found")
    return contact


def list_contacts(actor: Actor, *, department_id: int | None = None) -> list[DepartmentContact]:
    """Contacts the actor may see, by department then leader first."""
    permissions.require(actor, "contact.read")
    stmt = sa.select(DepartmentContact)
    if actor.kind == "staff" and actor.role in DEPARTMENT_ROLES:
        stmt = stmt.where(permissions.scope_filter(actor, DepartmentContact))
    if department_id is not None:
        stmt = stmt.where(DepartmentContact.department_id == department_id)
    stmt = stmt.order_by(DepartmentContact.department_id, DepartmentContact.kind.desc(), DepartmentContact.id)
    return db.session.execute(stmt).scalars().all()


def get_contact(actor: Actor, contact_id: int) -> DepartmentContact:
    return _load(actor, contact_id, "contact.read")


def create_contact(actor: Actor, values: dict) -> DepartmentContact:
    """A department operator registers its own leader or contact; the administrator, any department's."""
    permissions.require(actor, "contact.manage")
    department_id = permissions.target_department(actor, values.get("department_id"), what="联络人")
    contact = DepartmentContact(department_id=department_id, **clean_contact(values, partial=False))
    db.session.add(contact)
    db.session.flush()
    audit.record("contact.created", actor=actor, entity_type="department_contact", entity_id=contact.id,
                 after=_snapshot(contact))
    db.session.commit()
    return contact


def update_contact(actor: Actor, contact_id: int, values: dict) -> DepartmentContact:
    """Change a contact's details (own department, or the administrator)."""
    if "department_id" in values:
        raise Invalid("联络人的部门不能修改，请删除后在正确的部门下重新登记", code="department_immutable",
                      field="department_id")
    contact = _load(actor, contact_id, "contact.manage")
    before = _snapshot(contact)
    for key, value in clean_contact(values, partial=True).items():
        setattr(contact, key, value)
    db.session.flush()
    audit.record("contact.updated", actor=actor, entity_type="department_contact", entity_id=contact.id,
                 before=before, after=_snapshot(contact))
    db.session.commit()
    return contact


def delete_contact(actor: Actor, contact_id: int) -> None:
    """Remove a contact who left the post (own department, or the administrator)."""
    contact = _load(actor, contact_id, "contact.manage")
    audit.record("contact.deleted", actor=actor, entity_type="department_contact", entity_id=contact.id,
                 before=_snapshot(contact))
    db.session.delete(contact)
    db.session.commit()


ATTACHMENT4_HEADERS = ["序号", "部门", "类型", "姓名", "单位及职务", "联系方式", "备注"]


def export_contacts(actor: Actor, *, department_id: int | None = None) -> bytes:
    """Attachment 4 as xlsx; phone numbers in full only for the administrator, masked for everyone else."""
    from onecard.sheets import write_xlsx
    contacts = list_contacts(actor, department_id=department_id)
    full = actor.kind == "system" or actor.role in ("admin", "dept_operator")
    rows = ([i, c.department.name, CONTACT_KINDS[c.kind], c.name, c.position, c.phone if full else c.phone_masked,
             c.note or ""] for i, c in enumerate(contacts, start=1))
    if full and contacts:
        audit.record("contact.exported", actor=actor, entity_type="department_contact", entity_id=None,
                     after={"count": len(contacts), "department_id": department_id})
        db.session.commit()
    return write_xlsx(ATTACHMENT4_HEADERS, rows, sheet_name="附件4 联络人")


def import_contacts(actor: Actor, data, filename: str, *, department_id: int | None = None
                    ) -> list[DepartmentContact]:
    """A department's attachment 4 replaces its registration: every row is checked first and nothing
    changes unless all are good; the old contacts' removal and the new ones are each audited."""
    from onecard.contacts import sheets
    permissions.require(actor, "contact.manage")
    department_id = permissions.target_department(actor, department_id, what="联络人")
    department = db.session.get(Department, department_id)
    rows = sheets.parse_attachment4(data, filename, department_name=department.name)
    note = f"附件4导入：{filename}"[:500]
    old = db.session.execute(sa.select(DepartmentContact)
                             .where(DepartmentContact.department_id == department_id)).scalars().all()
    for contact in old:
        audit.record("contact.deleted", actor=actor, entity_type="department_contact", entity_id=contact.id,
                     before=_snapshot(contact), note=note)
        db.session.delete(contact)
    db.session.flush()
    created = [DepartmentContact(department_id=department_id, **fields) for _row_no, fields in rows]
    db.session.add_all(created)
    db.session.flush()
    for contact in created:
        audit.record("contact.created", actor=actor, entity_type="department_contact", entity_id=contact.id,
                     after=_snapshot(contact), note=note)
    db.session.commit()
    return created
