"""The complaint document's schema and the staff list and reply arguments: one declaration, read by the
citizen API, the staff API and the console alike.

The OpenAPI component names are the class names: renaming a class changes the published documents.
"""
from __future__ import annotations

from marshmallow import Schema, fields


class ComplaintSchema(Schema):
    id = fields.Integer()
    text = fields.String()
    status = fields.String()
    status_label = fields.String()
    reply = fields.String(allow_none=True)
    replied_at = fields.String(allow_none=True)
    created_at = fields.String()
    ledger_entry_id = fields.Integer(allow_none=True)
    project_id = fields.Integer(allow_none=True)
    department = fields.String(allow_none=True)
    # the case (onecard.complaints.cases)
    line_id = fields.Integer(allow_none=True)
    category = fields.String()
    category_label = fields.String()
    handler = fields.String(metadata={"description": "department（主管部门）或 bank（代发银行）"})
    handler_bank = fields.String(allow_none=True)
    due_date = fields.String(allow_none=True, metadata={"description": "答复期限（工作日计算）"})
    overdue = fields.Boolean()
    escalated = fields.Boolean()
    closed_at = fields.String(allow_none=True)
    reopened_count = fields.Integer()
    can_confirm = fields.Boolean(metadata={"description": "居民现在可以确认办结"})
    can_reopen = fields.Boolean(metadata={"description": "居民现在可以不满意并要求重新办理"})
    messages = fields.List(fields.Dict())


class ReopenArgs(Schema):
    text = fields.String(required=True)


class ListArgs(Schema):
    status = fields.String(load_default=None)


class ReplyArgs(Schema):
    reply = fields.String(required=True)
