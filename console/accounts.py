"""Accounts and positions (账号与岗位权限): the bureau opens, adjusts, disables and resets accounts."""
from __future__ import annotations

from flask import render_template, request, url_for

from onecard.errors import NotFound
from onecard.extensions import db
from onecard.staff import permissions
from onecard.staff import service as staff_service
from onecard.staff.models import ROLES, StaffAccount
from onecard.web.http import form_int

from . import bp
from .core import page
from .guard import guarded_post
from .reference_pages import scope_choices

SCOPE_FIELDS = ("department_id", "bank_id", "town_id", "village_id")


def _scope_from_form() -> dict:
    return {k: form_int(request.form.get(k)) for k in SCOPE_FIELDS}


def _render_list(actor, *, form=None, error=None, status=200):
    return render_template("console/accounts.html", accounts=staff_service.list_accounts(actor), roles=ROLES,
                           scope_roles=staff_service.SCOPE_BY_ROLE, choices=scope_choices(),
                           can_manage=permissions.can(actor, "staff.manage"), form=form or {},
                           error=error), status


@bp.get("/accounts")
@page("staff.read")
def accounts(actor):
    return _render_list(actor)


@bp.post("/accounts")
@page("staff.manage")
def account_create(actor):
    args = {"username": request.form.get("username", "").strip(),
            "display_name": request.form.get("display_name", "").strip(),
            "role": request.form.get("role", ""), "password": request.form.get("password", ""),
            "mobile": request.form.get("mobile", "").strip() or None, **_scope_from_form()}
    shown = {k: v for k, v in args.items() if k != "password"}   # never echo a password back
    return guarded_post(
        actor, lambda: staff_service.create_account(actor, **args),
        done=lambda a: f"已开通账号 {a.username}（{ROLES[a.role]}），首次登录须修改密码",
        then=url_for("console.accounts"),
        on_error=lambda exc: _render_list(actor, form={**shown, "error_field": exc.field}, error=exc.message,
                                          status=exc.status))


def _load(account_id: int) -> StaffAccount:
    account = db.session.get(StaffAccount, account_id)
    if account is None:
        raise NotFound("账号不存在", code="staff_not_found")
    return account


@bp.get("/accounts/<int:account_id>")
@page("staff.read")
def account_detail(actor, account_id):
    return render_template("console/account_detail.html", account=_load(account_id), roles=ROLES,
                           scope_roles=staff_service.SCOPE_BY_ROLE, choices=scope_choices(),
                           can_manage=permissions.can(actor, "staff.manage"))


@bp.post("/accounts/<int:account_id>/active")
@page("staff.manage")
def account_set_active(actor, account_id):
    active = request.form.get("active") == "1"
    return guarded_post(
        actor, lambda: staff_service.update_account(actor, account_id, active=active),
        done=lambda a: f"账号 {a.username} 已{'启用' if active else '停用'}",
        then=url_for("console.account_detail", account_id=account_id))


@bp.post("/accounts/<int:account_id>/password")
@page("staff.manage")
def account_reset_password(actor, account_id):
    new = request.form.get("reset_password", "")
    return guarded_post(
        actor, lambda: staff_service.update_account(actor, account_id, reset_password=new),
        done=lambda a: f"账号 {a.username} 的密码已重置，下次登录须修改密码",
        then=url_for("console.account_detail", account_id=account_id))


@bp.post("/accounts/<int:account_id>/mobile")
@page("staff.manage")
def account_set_mobile(actor, account_id):
    mobile = request.form.get("mobile", "").strip()
    return guarded_post(
        actor, lambda: staff_service.update_account(actor, account_id, mobile=mobile),
        done=lambda a: (f"账号 {a.username} 的登记手机已改为 {a.mobile_masked}" if a.mobile_masked
                        else f"账号 {a.username} 的登记手机已清除"),
        then=url_for("console.account_detail", account_id=account_id))


@bp.post("/accounts/<int:account_id>/position")
@page("staff.manage")
def account_change_position(actor, account_id):
    role = request.form.get("role") or None
    scope = _scope_from_form()
    return guarded_post(
        actor, lambda: staff_service.update_account(actor, account_id, role=role, **scope),
        done=lambda a: f"账号 {a.username} 的岗位已调整为 {ROLES[a.role]}",
        then=url_for("console.account_detail", account_id=account_id))
