"""Staff use cases: sign in and out, passwords, opening accounts and granting positions (岗位权限)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from onecard import audit, passwords, tokens
from onecard.actors import Actor
from onecard.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated, Unavailable
from onecard.extensions import db
from onecard.privacy import mask_mobile
from onecard.reference.models import Bank, Department, Town, Village
from onecard.staff import permissions
from onecard.staff.models import ROLES, StaffAccount
from onecard.timeutil import utcnow
from onecard.validation import normalize_mobile

# Doors whose staff sign-in lives in a cookie: their tokens are bound to them.
COOKIE_CHANNELS = ("console", "h5")


def actor_for(account: StaffAccount, *, ip: str | None = None, channel: str = "api") -> Actor:
    return Actor(kind="staff", id=account.id, role=account.role, label=f"{account.display_name}({account.username})",
                 department_id=account.department_id, bank_id=account.bank_id, town_id=account.town_id,
                 village_id=account.village_id, ip=ip, channel=channel)


@dataclass
class LoginResult:
    token: str
    expires_at: datetime
    account: StaffAccount
    previous_login_at: datetime | None
    previous_login_ip: str | None


def login(username: str, password: str, *, ip: str | None = None, channel: str = "api") -> LoginResult:
    """Check a username and password; lock the account after too many failures.

    Unknown user, wrong password and disabled account give the same answer so
    the response does not reveal which usernames exist. A locked account says
    it is locked (the owner needs to know to wait or call the bureau).
    """
    cfg = current_app.config
    account = db.session.execute(
        sa.select(StaffAccount).where(StaffAccount.username == (username or "").strip())
    ).scalar_one_or_none()
    now = utcnow()
    max_failures = cfg["LOGIN_MAX_FAILURES"]
    attempt = None
    if account is not None and account.active:
        # Counted before the password is checked, in one atomic step: a burst of concurrent guesses gets at most
        # LOGIN_MAX_FAILURES verifications before the lock, however they interleave (issue #16).
        attempt = _reserve_attempt(account.id, now, max_failures)
        if attempt is None:
            _lock_if_full(account, now, cfg, ip=ip, channel=channel)
            raise Unauthenticated(_LOCKED_MESSAGE, code="account_locked")
    try:
        ok = passwords.verify_password(account.password_hash if account else None, password or "")
    except Unavailable:
        if attempt is not None:   # not checked: give the attempt back
            _unreserve_attempt(account.id)
        raise
    if not ok or account is None or not account.active:
        if attempt is not None and attempt >= max_failures:
            _lock_if_full(account, now, cfg, ip=ip, channel=channel)
        raise Unauthenticated("用户名或密码错误", code="bad_credentials")
    if passwords.needs_rehash(account.password_hash):
        account.password_hash = passwords.hash_password(password)
    previous_at, previous_ip = account.last_login_at, account.last_login_ip
    account.previous_login_at, account.previous_login_ip = previous_at, previous_ip
    account.last_login_at, account.last_login_ip = now, ip
    account.failed_logins = 0
    account.locked_until = None
    token, row = tokens.issue("staff", account.id, ttl_minutes=cfg["TOKEN_TTL_MINUTES"], ip=ip, channel=channel)
    audit.record("staff.login", actor=actor_for(account, ip=ip, channel=channel), entity_type="staff",
                 entity_id=account.id)
    db.session.commit()
    return LoginResult(token, row.expires_at, account, previous_at, previous_ip)


_LOCKED_MESSAGE = "连续登录失败次数过多，账号已锁定，请稍后再试或联系人社局管理员"


def _reserve_attempt(account_id: int, now: datetime, max_failures: int) -> int | None:
    """Count one sign-in attempt as a failure until it proves otherwise: one UPDATE ... RETURNING, committed,
    refused (None) while the account is locked or its failures (in flight included) are used up."""
    a = StaffAccount
    row = db.session.execute(
        sa.update(a).where(a.id == account_id, a.failed_logins < max_failures,
                           sa.or_(a.locked_until.is_(None), a.locked_until <= now))
        .values(failed_logins=a.failed_logins + 1).returning(a.failed_logins)
        .execution_options(synchronize_session=False)).first()
    db.session.commit()
    return row.failed_logins if row else None


def _unreserve_attempt(account_id: int) -> None:
    a = StaffAccount
    db.session.execute(sa.update(a).where(a.id == account_id, a.failed_logins > 0)
                       .values(failed_logins=a.failed_logins - 1).execution_options(synchronize_session=False))
    db.session.commit()


def _lock_if_full(account: StaffAccount, now: datetime, cfg, *, ip: str | None, channel: str) -> None:
    """Lock an account whose failures are used up and that is not locked yet (also one whose last attempt died
    between counting and checking, which would otherwise stay full); audited by the one call that locks it."""
    a = StaffAccount
    locked = db.session.execute(
        sa.update(a).where(a.id == account.id, a.failed_logins >= cfg["LOGIN_MAX_FAILURES"],
                           sa.or_(a.locked_until.is_(None), a.locked_until <= now))
        .values(locked_until=now + timedelta(minutes=cfg["LOGIN_LOCK_MINUTES"]), failed_logins=0)
        .execution_options(synchronize_session=False)).rowcount == 1
    if locked:
        audit.record("staff.locked", actor=actor_for(account, ip=ip, channel=channel), entity_type="staff",
                     entity_id=account.id, note="连续登录失败")
    db.session.commit()


def authenticate(token: str | None, *, ip: str | None = None, channel: str = "api") -> Actor:
    """The Actor behind a bearer token, or Unauthenticated."""
    row = tokens.resolve(token, "staff")
    # A sign-in through a page (the console, the H5 assisted mode) keeps its token in that door's cookie and
    # works only there; an API token works only on the API. A cookie's token is never a bearer token elsewhere.
    if (row.channel in COOKIE_CHANNELS or channel in COOKIE_CHANNELS) and row.channel != channel:
        raise Unauthenticated("登录凭证不适用于此入口，请重新登录", code="token_wrong_channel")
    account = db.session.get(StaffAccount, row.subject_id)
    if account is None or not account.active:
        raise Unauthenticated("账号已停用", code="account_disabled")
    return actor_for(account, ip=ip, channel=channel)


def logout(actor: Actor, token: str) -> None:
    tokens.revoke(token)
    audit.record("staff.logout", actor=actor, entity_type="staff", entity_id=actor.id)
    db.session.commit()


def change_password(actor: Actor, old_password: str, new_password: str) -> None:
    """A staff member changes their own password; every other session of theirs ends."""
    account = db.session.get(StaffAccount, actor.id)
    if account is None or not passwords.verify_password(account.password_hash, old_password or ""):
        raise Invalid("原密码不正确", code="bad_old_password", field="old_password")
    passwords.check_strength(new_password)
    if old_password == new_password:
        raise Invalid("新密码不能与原密码相同", code="password_unchanged", field="new_password")
    account.password_hash = passwords.hash_password(new_password)
    account.password_changed_at = utcnow()
    account.must_change_password = False
    tokens.revoke_all("staff", account.id)
    audit.record("staff.password_changed", actor=actor, entity_type="staff", entity_id=account.id)
    db.session.commit()


SCOPE_BY_ROLE = {
    "dept_operator": "department_id", "dept_reviewer": "department_id", "bank_operator": "bank_id",
    "town_staff": "town_id", "village_staff": "village_id",
}


def _check_scope(role: str, values: dict) -> None:
    if role not in ROLES:
        raise Invalid("岗位不存在，可选：" + "、".join(f"{k}({v})" for k, v in ROLES.items()),
                      code="unknown_role", field="role")
    needed = SCOPE_BY_ROLE.get(role)
    model = {"department_id": Department, "bank_id": Bank, "town_id": Town, "village_id": Village}
    for key in ("department_id", "bank_id", "town_id", "village_id"):
        value = values.get(key)
        if key == needed:
            if value is None:
                raise Invalid(f"岗位“{ROLES[role]}”必须指定所属范围", code="scope_required", field=key)
            if db.session.get(model[key], value) is None:
                raise Invalid("所属范围不存在", code="scope_unknown", field=key)
        elif value is not None and key != needed:
            values[key] = None  # a scope that does not apply to the role is dropped, not silently widened
    if role == "village_staff":
        village = db.session.get(Village, values["village_id"])
        values["town_id"] = village.town_id


def _mobile(value: str | None) -> tuple[str | None, str | None]:
    """The registered mobile (alerts by SMS) and its mask; empty clears it."""
    if value is None or not str(value).strip():
        return None, None
    mobile = normalize_mobile(value, field="mobile")
    return mobile, mask_mobile(mobile)


def create_account(actor: Actor, *, username: str, display_name: str, role: str, password: str,
                   department_id: int | None = None, bank_id: int | None = None, town_id: int | None = None,
                   village_id: int | None = None, must_change_password: bool = True,
                   mobile: str | None = None) -> StaffAccount:
    """The bureau's administrator opens an account with one position and its scope."""
    permissions.require(actor, "staff.manage")
    username = (username or "").strip()
    if not username or len(username) > 40 or not username.replace("_", "").replace(".", "").isalnum():
        raise Invalid("用户名只能包含字母、数字、下划线和点，最长40位", code="bad_username", field="username")
    passwords.check_strength(password, field="password")
    values = {"department_id": department_id, "bank_id": bank_id, "town_id": town_id, "village_id": village_id}
    _check_scope(role, values)
    plain_mobile, masked = _mobile(mobile)
    if db.session.execute(sa.select(StaffAccount.id).where(StaffAccount.username == username)).first():
        raise Conflict("用户名已被使用", code="username_taken", field="username")
    account = StaffAccount(username=username, display_name=display_name.strip()[:40], role=role,
                           password_hash=passwords.hash_password(password), created_by=actor.id,
                           must_change_password=must_change_password, mobile=plain_mobile, mobile_masked=masked,
                           **values)
    db.session.add(account)
    db.session.flush()
    audit.record("staff.created", actor=actor, entity_type="staff", entity_id=account.id,
                 after={"username": username, "role": role, "mobile": masked, **values})
    db.session.commit()
    return account


_UNCHANGED = object()


def update_account(actor: Actor, account_id: int, *, role: str | None = None, active: bool | None = None,
                   display_name: str | None = None, reset_password: str | None = None, mobile=_UNCHANGED,
                   **scope) -> StaffAccount:
    """Change a position, its scope, the registered mobile (empty clears it), disable or re-enable an account,
    or reset its password."""
    permissions.require(actor, "staff.manage")
    account = db.session.get(StaffAccount, account_id)
    if account is None:
        raise NotFound("账号不存在", code="staff_not_found")
    if account.id == actor.id and (active is False or (role and role != account.role)):
        raise Forbidden("不能停用自己的账号或修改自己的岗位", code="self_change")
    before = {"role": account.role, "active": account.active, "department_id": account.department_id,
              "bank_id": account.bank_id, "town_id": account.town_id, "village_id": account.village_id,
              "mobile": account.mobile_masked}
    new_role = role or account.role
    values = {k: scope.get(k, getattr(account, k)) for k in ("department_id", "bank_id", "town_id", "village_id")}
    _check_scope(new_role, values)
    if mobile is not _UNCHANGED:
        account.mobile, account.mobile_masked = _mobile(mobile)
    account.role = new_role
    for k, v in values.items():
        setattr(account, k, v)
    if display_name:
        account.display_name = display_name.strip()[:40]
    if active is not None:
        account.active = active
        if not active:
            tokens.revoke_all("staff", account.id)
    if reset_password:
        passwords.check_strength(reset_password, field="reset_password")
        account.password_hash = passwords.hash_password(reset_password)
        account.must_change_password = True
        account.locked_until = None
        account.failed_logins = 0
        tokens.revoke_all("staff", account.id)
    after = {"role": account.role, "active": account.active, **values, "mobile": account.mobile_masked,
             "password_reset": bool(reset_password)}
    audit.record("staff.updated", actor=actor, entity_type="staff", entity_id=account.id, before=before, after=after)
    db.session.commit()
    return account


def list_accounts(actor: Actor) -> list[StaffAccount]:
    permissions.require(actor, "staff.read")
    return db.session.execute(sa.select(StaffAccount).order_by(StaffAccount.id)).scalars().all()


def create_first_admin(username: str, password: str, display_name: str = "人社局管理员") -> StaffAccount:
    """CLI: the first administrator, when no administrator exists yet."""
    from onecard.actors import cli_actor
    if db.session.execute(sa.select(StaffAccount.id).where(StaffAccount.role == "admin")).first():
        raise Conflict("已存在管理员账号；请由管理员登录后开通其他账号", code="admin_exists")
    passwords.check_strength(password, field="password")
    account = StaffAccount(username=username, display_name=display_name, role="admin",
                           password_hash=passwords.hash_password(password), must_change_password=False)
    db.session.add(account)
    db.session.flush()
    audit.record("staff.created", actor=cli_actor(), entity_type="staff", entity_id=account.id,
                 after={"username": username, "role": "admin"})
    db.session.commit()
    return account
