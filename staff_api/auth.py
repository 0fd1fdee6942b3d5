"""Sign in, sign out, who am I, change password; the bureau opens accounts (岗位权限)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from onecard.staff import service
from onecard.timeutil import local_str
from onecard.web import client_ip, request_token
from onecard.web.http import Blueprint
from onecard.web.ratelimit import limiter
from staff_api.common import SECURITY, current_actor

bp = Blueprint("staff_auth", __name__, url_prefix="/api/staff/v1", description="登录与账号")


class LoginArgs(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=40))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class AccountSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    department_id = fields.Integer(allow_none=True)
    bank_id = fields.Integer(allow_none=True)
    town_id = fields.Integer(allow_none=True)
    village_id = fields.Integer(allow_none=True)
    mobile = fields.String(attribute="mobile_masked", allow_none=True,
                           metadata={"description": "登记手机（脱敏），工作提醒短信发往此号"})
    active = fields.Boolean()
    must_change_password = fields.Boolean()
    last_login_at = fields.Function(lambda a: local_str(a.last_login_at) or None)


class LoginResultSchema(Schema):
    token = fields.String()
    expires_at = fields.Function(lambda r: local_str(r.expires_at))
    account = fields.Nested(AccountSchema)
    previous_login = fields.Function(
        lambda r: {"at": local_str(r.previous_login_at), "ip": r.previous_login_ip} if r.previous_login_at else None)


class PasswordArgs(Schema):
    old_password = fields.String(required=True)
    new_password = fields.String(required=True, validate=validate.Length(max=200))


class CreateAccountArgs(Schema):
    username = fields.String(required=True)
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=40))
    role = fields.String(required=True)
    password = fields.String(required=True)
    department_id = fields.Integer(load_default=None)
    bank_id = fields.Integer(load_default=None)
    town_id = fields.Integer(load_default=None)
    village_id = fields.Integer(load_default=None)
    mobile = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=20),
                           metadata={"description": "登记手机（11位），用于工作提醒短信；可不填"})


class UpdateAccountArgs(Schema):
    role = fields.String()
    display_name = fields.String(validate=validate.Length(min=1, max=40))
    active = fields.Boolean()
    reset_password = fields.String()
    department_id = fields.Integer(allow_none=True)
    bank_id = fields.Integer(allow_none=True)
    town_id = fields.Integer(allow_none=True)
    village_id = fields.Integer(allow_none=True)
    mobile = fields.String(allow_none=True, validate=validate.Length(max=20),
                           metadata={"description": "登记手机（11位）；空字符串或 null 清除"})


@bp.post("/auth/login")
@bp.arguments(LoginArgs)
@bp.response(200, LoginResultSchema)
@limiter.limit_setting("STAFF_SIGN_IN_RATE_LIMIT", scope="staff.sign_in")
def login(args):
    """登录：用户名和密码换取有时效的访问令牌。"""
    return service.login(args["username"], args["password"], ip=client_ip())


@bp.post("/auth/logout")
@bp.response(204)
@bp.doc(security=SECURITY)
def logout():
    """退出登录：令牌立即失效。"""
    service.logout(current_actor(), request_token())


@bp.get("/auth/me")
@bp.response(200, AccountSchema)
@bp.doc(security=SECURITY)
def me():
    """当前登录的账号。"""
    from onecard.extensions import db
    from onecard.staff.models import StaffAccount
    return db.session.get(StaffAccount, current_actor().id)


@bp.post("/auth/password")
@bp.arguments(PasswordArgs)
@bp.response(204)
@bp.doc(security=SECURITY)
def change_password(args):
    """修改本人密码；其他已登录的会话随之失效。"""
    service.change_password(current_actor(), args["old_password"], args["new_password"])


@bp.get("/accounts")
@bp.response(200, AccountSchema(many=True))
@bp.doc(security=SECURITY)
def list_accounts():
    """账号列表（人社局管理员、审计）。"""
    return service.list_accounts(current_actor())


@bp.post("/accounts")
@bp.arguments(CreateAccountArgs)
@bp.response(201, AccountSchema)
@bp.doc(security=SECURITY)
def create_account(args):
    """开通账号并授予岗位权限（人社局管理员）。"""
    return service.create_account(current_actor(), **args)


@bp.patch("/accounts/<int:account_id>")
@bp.arguments(UpdateAccountArgs)
@bp.response(200, AccountSchema)
@bp.doc(security=SECURITY)
def update_account(args, account_id):
    """调整岗位、范围，停用/启用账号或重置密码（人社局管理员）。"""
    return service.update_account(current_actor(), account_id, **args)
