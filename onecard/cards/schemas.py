"""The card documents' schemas (my card, an application, the apply form, the staff list and moves): one
declaration, read by the citizen API, the staff API and the console alike.

The OpenAPI component names are the class names: renaming a class changes the published documents.
"""
from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from onecard.cards.applications import STAFF_MOVES


class ApplicationSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    kind_label = fields.String()
    status = fields.String()
    status_label = fields.String()
    bank_id = fields.Integer()
    bank_name = fields.String()
    branch = fields.String(allow_none=True)
    branch_id = fields.Integer(allow_none=True)
    delivery = fields.String()
    delivery_label = fields.String()
    status_note = fields.String(allow_none=True)
    created_at = fields.String()
    status_changed_at = fields.String()
    assisted = fields.Boolean()


class ApplicantSchema(ApplicationSchema):
    """One application with its applicant, for the issuing bank making the card."""
    name = fields.String()
    id_number = fields.String(metadata={"description": "身份证号（仅经办银行制卡时可见，查看留痕）"})
    mobile = fields.String(allow_none=True)
    has_photo = fields.Boolean()
    branch_address = fields.String(allow_none=True)
    postal_address = fields.String(allow_none=True)


class CardSchema(Schema):
    status = fields.String()
    label = fields.String(metadata={"description": "状态（白话）"})
    next_step = fields.String(metadata={"description": "下一步怎么办"})
    payable = fields.Boolean()
    name = fields.String()
    id_masked = fields.String()
    mobile_masked = fields.String(allow_none=True)
    bank_name = fields.String(allow_none=True)
    card_number_masked = fields.String(allow_none=True)
    account_masked = fields.String(allow_none=True)
    can_apply = fields.Boolean()
    can_activate = fields.Boolean()
    can_report_loss = fields.Boolean()
    can_replace = fields.Boolean()
    sms_opt_out = fields.Boolean()
    application = fields.Nested(ApplicationSchema, allow_none=True)


class ApplyForm(Schema):
    bank_id = fields.Integer(required=True)
    delivery = fields.String(required=True, validate=validate.OneOf(["branch", "post"]))
    branch_id = fields.Integer(load_default=None, metadata={"description": "领卡网点（/banks 列出的网点 id）"})
    branch = fields.String(load_default=None, metadata={"description": "旧客户端：网点名称，须是列表中的网点"})
    postal_address = fields.String(load_default=None)


class PhotoFiles(Schema):
    photo = Upload(load_default=None)


class ListArgs(Schema):
    status = fields.String(load_default=None)


class MoveArgs(Schema):
    action = fields.String(required=True, validate=validate.OneOf(list(STAFF_MOVES)),
                           metadata={"description": "accept 受理, in_production 制卡, ready 待领取, posted 已邮寄, "
                                                    "collected 已领取（卡变为已发放）, reject 退回"})
    account = fields.String(load_default=None, metadata={"description": "金融账户账号（ready/posted 时必填）"})
    card_number = fields.String(load_default=None)
    note = fields.String(load_default=None)
