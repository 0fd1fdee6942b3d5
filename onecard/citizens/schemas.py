"""Citizen documents shared by the citizen API and the staff assist API: the code-sent message and the
my-subsidies page (onecard.payments.my_subsidies builds it).

The OpenAPI component names are the class names: renaming a class changes the published documents.
"""
from __future__ import annotations

from marshmallow import Schema, fields


class MessageSchema(Schema):
    message = fields.String()
    mobile_masked = fields.String(allow_none=True)


class SubsidyItem(Schema):
    id = fields.Integer()
    project_id = fields.Integer()
    project_name = fields.String()
    period = fields.String()
    amount_fen = fields.Integer()
    amount = fields.String()
    outcome = fields.String()
    outcome_label = fields.String()
    date = fields.String()
    bank_name = fields.String()
    account_last4 = fields.String()
    failure_reason = fields.String(allow_none=True)
    what_to_do = fields.String(allow_none=True)
    received_for = fields.String(allow_none=True, metadata={
        "description": "为他人发放到本人卡上时的说明（到户补贴发给户主、代管代领），否则为空"})


class OwedItem(Schema):
    """待发放: a payment owed to the resident (payments.owed.for_resident)."""
    id = fields.Integer()
    project_name = fields.String()
    period = fields.String()
    amount_fen = fields.Integer()
    amount = fields.String()
    status = fields.String()
    status_label = fields.String()
    reason = fields.String(allow_none=True)
    what_to_do = fields.String()


class SubsidyPage(Schema):
    items = fields.List(fields.Nested(SubsidyItem))
    page = fields.Integer()
    per_page = fields.Integer()
    has_next = fields.Boolean()
    year = fields.Integer()
    year_total_fen = fields.Integer()
    year_total = fields.String()
