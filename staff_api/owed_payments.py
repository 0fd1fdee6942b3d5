"""The money after its batch (issue 18): returns after payment (退汇) from the agent bank, the owed payments
(应发未发) follow-up list and statistics, the department's cancellation of an owed line, a batch's reconciliation
figures with its returns. Thin: parse, name the actor, call one service."""
from __future__ import annotations

import hashlib
import io

from flask import request
from marshmallow import Schema, fields, validate

from onecard.errors import Invalid
from onecard.payments import owed, returns
from onecard.payments.common import load_batch
from onecard.payments.results import reconciliation_figures
from onecard.payments.schemas import LineOut
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor

bp = Blueprint("staff_owed_payments", __name__, url_prefix="/api/staff/v1", description="退汇、应发未发与补发往期")


class KeyIn(Schema):
    idempotency_key = fields.String(load_default=None, validate=validate.Length(max=80))


class PaymentReturnIn(KeyIn):
    line_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1),
                             metadata={"description": "原发放明细号（代发文件中的明细编号）"})
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10**12))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))
    reason_code = fields.String(load_default=None, validate=validate.Length(max=20))
    returned_on = fields.Date(required=True, metadata={"description": "退汇日期"})


class PaymentReturnOut(Schema):
    id = fields.Integer()
    line_id = fields.Integer()
    batch_id = fields.Integer()
    project_id = fields.Integer()
    period = fields.String()
    amount_fen = fields.Integer()
    amount_yuan = fields.String()
    reason_code = fields.String(allow_none=True)
    reason = fields.String()
    returned_on = fields.String()
    source = fields.String()


class PaymentReturnsOut(Schema):
    returns = fields.List(fields.Nested(PaymentReturnOut))


class ReturnsQuery(Schema):
    batch_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))


_ID = validate.Range(min=1, max=2**31 - 1)


class OwedQuery(Schema):
    project_id = fields.Integer(load_default=None, validate=_ID)
    period = fields.String(load_default=None)
    town_id = fields.Integer(load_default=None, validate=_ID)
    village_id = fields.Integer(load_default=None, validate=_ID)
    reason = fields.String(load_default=None, validate=validate.Length(max=200))
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class OwedOut(LineOut):
    status_label = fields.String()
    reason = fields.String(allow_none=True)
    owed_since = fields.String(allow_none=True)
    age_days = fields.Integer(allow_none=True)
    town_name = fields.String(allow_none=True)
    village_name = fields.String(allow_none=True)


class SummaryQuery(Schema):
    by = fields.String(load_default="town", validate=validate.OneOf(["town", "village", "reason"]))
    project_id = fields.Integer(load_default=None, validate=_ID)
    period = fields.String(load_default=None)


class AgeBand(Schema):
    band = fields.String(metadata={"description": "账龄段：under_30 不满30天、30_90、91_180、over_180 超过180天",
                                   "enum": [b[0] for b in owed.AGE_BANDS]})
    label = fields.String(metadata={"description": "账龄段名称，如“30至90天”"})
    count = fields.Integer(metadata={"description": "该账龄段的笔数"})
    fen = fields.Integer(metadata={"description": "该账龄段的金额（分）"})
    yuan = fields.String(metadata={"description": "该账龄段的金额（元，如 183.00元）"})


class SummaryRow(Schema):
    key = fields.Raw()
    label = fields.String()
    count = fields.Integer()
    fen = fields.Integer()
    yuan = fields.String()
    oldest_age_days = fields.Integer(allow_none=True, metadata={"description": "其中最早一笔已等待的天数"})
    age_bands = fields.List(fields.Nested(AgeBand), metadata={
        "description": "按账龄（自暂缓、失败或退汇起已等待的天数）分段的笔数与金额，固定四段，从短到长"})


class CancelIn(KeyIn):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


def _key(args: dict | None = None) -> str | None:
    return request.headers.get("Idempotency-Key") or (args or {}).get("idempotency_key") \
        or request.form.get("idempotency_key")


@bp.post("/payment-returns")
@bp.arguments(PaymentReturnIn)
@bp.response(201, PaymentReturnsOut)
@bp.doc(security=SECURITY)
def post_return(args):
    """代发银行登记一笔退汇（原明细、金额、原因、退汇日期）：冲正台账，明细转为应发未发并通知居民。"""
    key = _key(args)
    args.pop("idempotency_key", None)
    return returns.record_return(current_actor(), args, idempotency_key=key)


@bp.post("/payment-returns/file")
@bp.response(201, PaymentReturnsOut)
@bp.doc(security=SECURITY)
def post_return_file():
    """上传退汇文件（xlsx/CSV，列：明细号、金额、退汇原因代码、退汇原因、退汇日期）；有误则整体拒收。"""
    actor = current_actor()     # before the file: an anonymous caller learns nothing about the body
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("请上传退汇文件（字段 file）", code="file_required", field="file")
    data = upload.read()
    return returns.import_return_file(actor, io.BytesIO(data), upload.filename or "returns.csv",
                                      file_sha256=hashlib.sha256(data).hexdigest(), idempotency_key=_key())


@bp.get("/payment-returns")
@bp.arguments(ReturnsQuery, location="query")
@bp.response(200, PaymentReturnOut(many=True))
@bp.doc(security=SECURITY)
def get_returns(args):
    """退汇登记列表（按岗位范围）。"""
    return returns.list_returns(current_actor(), **args)


@bp.get("/batches/<int:batch_id>/reconciliation")
@bp.response(200)
@bp.doc(security=SECURITY)
def get_reconciliation(batch_id):
    """批次对账数字（含退汇、退汇后补发），任何时候可查；balanced 表示平衡。"""
    actor = current_actor()
    batch = load_batch(actor, batch_id, "batch.read")
    return reconciliation_figures(batch)


@bp.get("/owed-payments")
@bp.arguments(OwedQuery, location="query")
@bp.response(200, OwedOut(many=True))
@bp.doc(security=SECURITY)
def get_owed(args):
    """应发未发跟进清单：暂缓、待随下一批发放、失败、退汇，含原因与已等待天数。"""
    return owed.owed_list(current_actor(), **args)


@bp.get("/owed-payments/summary")
@bp.arguments(SummaryQuery, location="query")
@bp.response(200, SummaryRow(many=True))
@bp.doc(security=SECURITY)
def get_owed_summary(args):
    """应发未发统计：按镇街、村（社区）或原因汇总笔数、金额、最长等待天数，以及各账龄段（不满30天、30至90天、
    91至180天、180天以上）的笔数与金额。"""
    return owed.owed_summary(current_actor(), **args)


@bp.post("/owed-payments/<int:line_id>/cancel")
@bp.arguments(CancelIn)
@bp.response(200, LineOut)
@bp.doc(security=SECURITY)
def cancel_owed(args, line_id):
    """主管部门取消一笔应发未发（须注明原因，记入审计）。"""
    return owed.cancel(current_actor(), line_id, args["reason"], idempotency_key=_key(args))
