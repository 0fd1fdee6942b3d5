"""Residents, households and the special categories of the pilot plan."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import relationship

from onecard.extensions import db
from onecard.privacy import Encrypted
from onecard.timeutil import utcnow

# The groups for which the plan allows a legally appointed proxy (代管代持), plus 建档立卡.
CATEGORIES = {
    "dibao": "低保户",
    "tekun": "特困供养人员",
    "disabled": "残疾人",
    "poverty": "建档立卡贫困户",
    "minor": "未成年人",
}


class Household(db.Model):
    """户: per-household subsidies (到户资金) are paid to the head's (户主) card."""
    __tablename__ = "households"
    id = sa.Column(sa.Integer, primary_key=True)
    code = sa.Column(sa.String(20), nullable=False, unique=True)   # 户号
    head_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id", use_alter=True, name="fk_households_head_id"))
    town_id = sa.Column(sa.Integer, sa.ForeignKey("towns.id"), nullable=False)
    village_id = sa.Column(sa.Integer, sa.ForeignKey("villages.id"))
    address = sa.Column(sa.String(200))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


# The relation written for the head of a household (与户主关系).
HEAD = "户主"


class HouseholdMembership(db.Model):
    """One period of a resident's membership of a household (户籍成员), with the relation to the head in it.

    A member moving out, the head dying, a new head, a split: each ends a row (``until``, ``end_reason``) and
    starts another, so the history stays; ``Resident.household_id``/``relation_to_head`` and
    ``Household.head_id`` are the current view, kept in step by ``onecard.people.households``. The database
    refuses a second live membership of one person and a second live head of one household.
    """
    __tablename__ = "household_memberships"
    id = sa.Column(sa.Integer, primary_key=True)
    household_id = sa.Column(sa.Integer, sa.ForeignKey("households.id"), nullable=False, index=True)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False, index=True)
    relation = sa.Column(sa.String(10), nullable=False)
    since = sa.Column(sa.Date, nullable=False)
    until = sa.Column(sa.Date)
    start_reason = sa.Column(sa.String(100), nullable=False)
    end_reason = sa.Column(sa.String(100))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.Index("uq_household_memberships_live_resident", "resident_id", unique=True,
                 sqlite_where=sa.text("until IS NULL"), postgresql_where=sa.text("until IS NULL")),
        sa.Index("uq_household_memberships_live_head", "household_id", unique=True,
                 sqlite_where=sa.text("until IS NULL AND relation = '户主'"),
                 postgresql_where=sa.text("until IS NULL AND relation = '户主'")),
        sa.CheckConstraint("until IS NULL OR until >= since", name="dates"),
    )


class Resident(db.Model):
    """居民, keyed by 公民身份号码 (stored encrypted, found by its blind index)."""
    __tablename__ = "residents"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(40), nullable=False)
    id_number = sa.Column(Encrypted, nullable=False)
    id_bidx = sa.Column(sa.String(40), nullable=False, unique=True)
    id_masked = sa.Column(sa.String(18), nullable=False)
    gender = sa.Column(sa.String(1), nullable=False)
    # Only the year in clear (age bands, statistics, the demo's pension ages): the full birth date is digits
    # 7-14 of the ID, and beside the mask it would give the number back (privacy.mask_id explains the budget).
    birth_year = sa.Column(sa.SmallInteger, nullable=False)
    ethnicity = sa.Column(sa.String(2), nullable=False, default="01")   # GB 3304 code
    mobile = sa.Column(Encrypted)
    mobile_bidx = sa.Column(sa.String(40), index=True)
    mobile_masked = sa.Column(sa.String(11))
    town_id = sa.Column(sa.Integer, sa.ForeignKey("towns.id"), nullable=False, index=True)
    village_id = sa.Column(sa.Integer, sa.ForeignKey("villages.id"), index=True)
    household_id = sa.Column(sa.Integer, sa.ForeignKey("households.id"), index=True)
    relation_to_head = sa.Column(sa.String(10))    # 户主, 配偶, 子女, 父母, ...
    deceased_on = sa.Column(sa.Date)
    death_source = sa.Column(sa.String(20))       # minzheng, police, registry (DEATH_SOURCES)
    death_document = sa.Column(sa.String(100))    # the notice's document number (死亡证明/注销户口通知)
    sms_opt_out = sa.Column(sa.Boolean, nullable=False, default=False)  # arrival SMS switched off by the resident
    wechat_openid = sa.Column(sa.String(64), unique=True)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    __table_args__ = (sa.CheckConstraint("gender in ('M','F')", name="gender"),)

    household = relationship(Household, foreign_keys=[household_id])
    categories = relationship("ResidentCategory", cascade="all, delete-orphan", lazy="selectin")

    def category_codes(self) -> set[str]:
        return {c.category for c in self.categories}


class ResidentCategory(db.Model):
    """A special category a resident is recognised in (低保户, 残疾人...), with its validity.

    Recorded by the issuing department (``onecard.people.groups.ISSUERS``); a revocation sets ``revoked_at``
    and ends the validity (``until``) on the revocation date, so every reader of since/until sees it.
    未成年人 is not recorded: it follows from the birth date (``onecard.people.groups.is_minor``).
    """
    __tablename__ = "resident_categories"
    id = sa.Column(sa.Integer, primary_key=True)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id", ondelete="CASCADE"), nullable=False)
    category = sa.Column(sa.String(12), nullable=False)
    since = sa.Column(sa.Date)
    until = sa.Column(sa.Date)
    certificate_no = sa.Column(sa.String(60))     # document number (认定文号/证件编号)
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"))   # issuing department
    revoked_at = sa.Column(sa.DateTime)
    revoke_reason = sa.Column(sa.String(200))
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    __table_args__ = (
        sa.UniqueConstraint("resident_id", "category"),
        sa.CheckConstraint("category in ('dibao','tekun','disabled','poverty','minor')", name="category"),
        sa.Index("ix_resident_categories_category", "category"),
    )


class ProxyAppointment(db.Model):
    """代管代持: a person appointed by law to hold a resident's card and receive on their behalf.

    Allowed only for residents in one of CATEGORIES; the legal basis is recorded.
    """
    __tablename__ = "proxy_appointments"
    id = sa.Column(sa.Integer, primary_key=True)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False, index=True)
    proxy_resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False, index=True)
    category = sa.Column(sa.String(12), nullable=False)       # which protected group justifies it
    legal_basis = sa.Column(sa.String(200), nullable=False)   # document reference (文书编号)
    appointed_by = sa.Column(sa.String(100), nullable=False)  # appointing body (法院, 民政局, 村委会...)
    valid_from = sa.Column(sa.Date, nullable=False)
    valid_until = sa.Column(sa.Date)
    account = sa.Column(Encrypted)                             # account the money goes to, when not the proxy's card
    account_bidx = sa.Column(sa.String(40), index=True)
    account_last4 = sa.Column(sa.String(4))
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"))
    revoked_at = sa.Column(sa.DateTime)
    revoke_reason = sa.Column(sa.String(200))
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"))   # who recorded it (NULL: bureau)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("resident_id <> proxy_resident_id", name="not_self"),
        # A ward has at most one live (unrevoked) appointment; the service also refuses overlapping dates.
        sa.Index("uq_proxy_appointments_live_ward", "resident_id", unique=True,
                 sqlite_where=sa.text("revoked_at IS NULL"), postgresql_where=sa.text("revoked_at IS NULL")),
        sa.CheckConstraint("category in ('dibao','tekun','disabled','poverty','minor')", name="category"),
    )
