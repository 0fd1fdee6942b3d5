"""Subsidies that exclude each other (互斥补贴): the bureau's rules, list warnings, the department's decision on a
disputed line. Thin: parse, name the actor, call one service."""
from __future__ import annotations

from flask import request
from marshmallow import Schema, fields, validate

from onecard.exclusions import service as exclusions
from onecard.exclusions.models import SCOPES
from onecard.payments.schemas import LineOut
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor

bp = Blueprint("staff_exclusions", __name__, url_prefix="/api/staff/v1", description="互斥补贴规则与互斥待定")


class RuleIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scope = fields.String(load_default="person", validate=validate.OneOf(list(SCOPES)))
    source = fields.String(required=True, validate=validate.Length(min=1, max=300),
                           metadata={"description": "规则依据（文件名称、文号）"})
    project_ids = fields.List(fields.Integer(validate=validate.Range(min=1, max=2**31 - 1)), required=True,
                              validate=validate.Length(min=2, max=20))


class RuleOut(Schema):
    id = fields.Integer()
    name = fields.String()
    scope = fields.String()
    scope_label = fields.String()
    source = fields.String()
    status = fields.String()
    project_ids = fields.List(fields.Integer())
    project_names = fields.List(fields.String())


class ReasonIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class DecisionIn(ReasonIn):
    decision = fields.String(required=True, validate=validate.OneOf(["release", "cancel"]))
    idempotency_key = fields.String(load_default=None, validate=validate.Length(max=80))


class WarningOut(Schema):
    row = fields.Integer()
    name = fields.String()
    other_project = fields.String()
    message = fields.String()


@bp.post("/exclusion-rules")
@bp.arguments(RuleIn)
@bp.response(201, RuleOut)
@bp.doc(security=SECURITY)
def create_rule(args):
    """登记互斥规则（人社局管理员）：同一人或同一户同一期间不能同时享受的项目，注明依据。"""
    return exclusions.create_rule(current_actor(), **args)


@bp.get("/exclusion-rules")
@bp.response(200, RuleOut(many=True))
@bp.doc(security=SECURITY)
def list_rules():
    """互斥规则列表。"""
    return exclusions.list_rules(current_actor())


@bp.post("/exclusion-rules/<int:rule_id>/retire")
@bp.arguments(ReasonIn)
@bp.response(200, RuleOut)
@bp.doc(security=SECURITY)
def retire_rule(args, rule_id):
    """停用互斥规则（注明原因）。"""
    return exclusions.retire_rule(current_actor(), rule_id, args["reason"])


@bp.get("/lists/<int:list_id>/exclusion-warnings")
@bp.response(200, WarningOut(many=True))
@bp.doc(security=SECURITY)
def list_warnings(list_id):
    """名单中已在互斥项目同期名单中的人员（只显示对方项目名称）。"""
    return exclusions.list_warnings(current_actor(), list_id)


@bp.post("/batch-lines/<int:line_id>/exclusion-decision")
@bp.arguments(DecisionIn)
@bp.response(200, LineOut)
@bp.doc(security=SECURITY)
def decide(args, line_id):
    """主管部门处理互斥待定的明细：release 发放（注明理由）或 cancel 移出。"""
    key = request.headers.get("Idempotency-Key") or args.get("idempotency_key")
    return exclusions.decide(current_actor(), line_id, args["decision"], args["reason"], idempotency_key=key)
