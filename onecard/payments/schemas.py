"""The disbursement documents, declared once: an agreement (代发协议), a batch (发放批次) and a line (发放明细) as
every door shows them. The staff API answers with these schemas (their class names are the OpenAPI component
names), the services' views (common.batch_view, common.line_view, agreements.agreement_view) give exactly their
fields, and the console reads its labels from here (the state labels are the lifecycle machines' own).
"""
from __future__ import annotations

from marshmallow import Schema, fields

from onecard.payments.lifecycle import BATCH_MACHINE, LINE_MACHINE
from onecard.payments.routing import ROUTE_LABELS

BATCH_STATUS_LABELS = BATCH_MACHINE.labels
LINE_STATUS_LABELS = LINE_MACHINE.labels
__all__ = ["BATCH_STATUS_LABELS", "LINE_STATUS_LABELS", "ROUTE_LABELS", "AgreementOut", "BatchOut", "FailedLineOut",
           "LineOut"]


class AgreementOut(Schema):
    id = fields.Integer()
    number = fields.String()
    department_id = fields.Integer()
    bank_id = fields.Integer()
    project_ids = fields.List(fields.Integer())
    payment_schedule = fields.String()
    feedback_method = fields.String()
    fund_supervision = fields.String()
    reconciliation_method = fields.String()
    valid_from = fields.String()
    valid_until = fields.String()
    status = fields.String()


class BatchOut(Schema):
    id = fields.Integer()
    number = fields.String()
    kind = fields.String()
    project_id = fields.Integer()
    project_name = fields.String(allow_none=True)
    department_id = fields.Integer()
    bank_id = fields.Integer()
    agreement_id = fields.Integer()
    period = fields.String()
    status = fields.String()
    status_label = fields.String()
    line_count = fields.Integer()
    total_fen = fields.Integer()
    total_yuan = fields.String()
    held_count = fields.Integer()
    submitted_count = fields.Integer(allow_none=True)
    submitted_fen = fields.Integer(allow_none=True)
    paid_count = fields.Integer(allow_none=True)
    paid_fen = fields.Integer(allow_none=True)
    failed_count = fields.Integer(allow_none=True)
    failed_fen = fields.Integer(allow_none=True)
    file_sha256 = fields.String(allow_none=True)
    bank_layout = fields.String(allow_none=True)
    return_reason = fields.String(allow_none=True)
    created_by = fields.Integer(allow_none=True)
    submitted_by = fields.Integer(allow_none=True)
    reviewed_by = fields.Integer(allow_none=True)
    approved_by = fields.Integer(allow_none=True)
    approved_at = fields.String(allow_none=True)
    file_name = fields.String()
    reconciliation = fields.Dict()
    blocked = fields.List(fields.Dict())


class LineOut(Schema):
    id = fields.Integer()
    batch_id = fields.Integer()
    resident_id = fields.Integer(allow_none=True)
    name = fields.String()
    project_id = fields.Integer()
    period = fields.String()
    amount_fen = fields.Integer()
    amount_yuan = fields.String()
    status = fields.String()
    route = fields.String(allow_none=True)
    route_label = fields.String(allow_none=True)
    route_reason = fields.String()
    payee_name = fields.String(allow_none=True)
    bank_id = fields.Integer(allow_none=True)
    account_masked = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    failure_code = fields.String(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    reissue_of_line_id = fields.Integer(allow_none=True)
    late_of_line_id = fields.Integer(allow_none=True, metadata={"description": "补发往期：所补的原暂缓明细"})
    town_id = fields.Integer(allow_none=True)
    village_id = fields.Integer(allow_none=True)
    bank_date = fields.String(allow_none=True, metadata={"description": "银行回盘的入账日期"})


class FailedLineOut(LineOut):
    """A line of the failure worklist (失败重发): whether it can be re-issued now."""
    account_unchanged = fields.Boolean(metadata={"description": "因账户原因失败且账户至今未变更：补发会被暂缓"})
    blocked_reason = fields.String(allow_none=True, metadata={"description": "暂不能补发的原因（账户未变更…）"})
    resend_reason = fields.String(allow_none=True, metadata={"description": "工作人员登记的再次发放到原账户的理由"})
