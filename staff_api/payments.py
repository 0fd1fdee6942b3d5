"""Disbursement (发放) endpoints: agreements, batches and their approval, bank files and results,
failures and re-issue, reconciliation and ledger exports. Thin: parse, name the actor, call one service."""
from __future__ import annotations

import hashlib
import io

from flask import request
from marshmallow import Schema, fields, validate

from onecard.errors import Invalid
from onecard.payments import agreements, batches, exports, ledger, reissues, results
from onecard.payments.schemas import AgreementOut, BatchOut, FailedLineOut, LineOut
from onecard.web import send_download, send_xlsx
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor

bp = Blueprint("staff_payments", __name__, url_prefix="/api/staff/v1", description="代发协议、发放批次、银行文件与对账")



class AgreementIn(Schema):
    number = fields.String(required=True, validate=validate.Length(min=1, max=40))
    department_id = fields.Integer(load_default=None)
    bank_id = fields.Integer(required=True)
    project_ids = fields.List(fields.Integer(), required=True)
    payment_schedule = fields.String(required=True, validate=validate.Length(min=1, max=200))
    feedback_method = fields.String(load_default="file", validate=validate.OneOf(["file", "api"]))
    fund_supervision = fields.String(required=True, validate=validate.Length(min=1, max=200))
    reconciliation_method = fields.String(required=True, validate=validate.Length(min=1, max=200))
    valid_from = fields.Date(required=True)
    valid_until = fields.Date(required=True)


class PassbookIn(Schema):
    resident_id = fields.Integer(required=True)
    bank_id = fields.Integer(required=True)
    account = fields.String(required=True, validate=validate.Length(min=6, max=40))


class PassbookOut(Schema):
    id = fields.Integer()
    resident_id = fields.Integer()
    bank_id = fields.Integer()
    account_last4 = fields.String()


class KeyIn(Schema):
    idempotency_key = fields.String(load_default=None, validate=validate.Length(max=80))


class BatchCreateIn(KeyIn):
    project_id = fields.Integer(required=True)
    period = fields.String(required=True)
    list_id = fields.Integer(load_default=None)


class ReturnIn(KeyIn):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=300))


class RemoveLineIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ReissueIn(KeyIn):
    project_id = fields.Integer(required=True)
    period = fields.String(required=True)
    line_ids = fields.List(fields.Integer(), load_default=None)


class ResultItem(Schema):
    line_id = fields.Integer(required=True)
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    outcome = fields.String(required=True, validate=validate.OneOf(["paid", "failed", "S", "F"]))
    failure_code = fields.String(load_default=None)
    reason = fields.String(load_default=None, validate=validate.Length(max=150))
    value_date = fields.Date(load_default=None, metadata={"description": "入账日期（银行实际处理之日），可不填"})


class ResultsIn(KeyIn):
    batch_number = fields.String(required=True)
    count = fields.Integer(required=True, strict=True)
    total_fen = fields.Integer(required=True, strict=True)
    results = fields.List(fields.Nested(ResultItem), required=True)


class LinesQuery(Schema):
    status = fields.String(load_default=None)
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class BatchesQuery(Schema):
    status = fields.String(load_default=None)
    project_id = fields.Integer(load_default=None)


class FailuresQuery(Schema):
    project_id = fields.Integer(load_default=None)
    period = fields.String(load_default=None)


class LedgerQuery(Schema):
    project_id = fields.Integer(load_default=None)
    period = fields.String(load_default=None)


class SupervisionQuery(Schema):
    month = fields.String(load_default=None)


class SupervisionRow(Schema):
    project = fields.String()
    department = fields.String()
    town = fields.String()
    bank = fields.String()
    month = fields.String()
    paid_count = fields.Integer()
    paid_fen = fields.Integer()
    failed_count = fields.Integer()
    failed_fen = fields.Integer()


def _key(args: dict | None = None) -> str | None:
    """The idempotency key: the Idempotency-Key header or the body's idempotency_key."""
    return request.headers.get("Idempotency-Key") or (args or {}).get("idempotency_key") \
        or request.form.get("idempotency_key")


@bp.post("/agreements")
@bp.arguments(AgreementIn)
@bp.response(201, AgreementOut)
@bp.doc(security=SECURITY)
def create_agreement(args):
    """登记代发协议（部门与代发银行）。"""
    return agreements.agreement_view(agreements.create_agreement(current_actor(), args))


@bp.get("/agreements")
@bp.response(200, AgreementOut(many=True))
@bp.doc(security=SECURITY)
def list_agreements():
    """代发协议列表（按岗位范围）。"""
    return agreements.list_agreements(current_actor())


@bp.post("/passbook-accounts")
@bp.arguments(PassbookIn)
@bp.response(201, PassbookOut)
@bp.doc(security=SECURITY)
def register_passbook(args):
    """登记居民的“一本通”账户（并行期使用）。"""
    return agreements.register_passbook(current_actor(), args["resident_id"], args["bank_id"], args["account"])


@bp.post("/batches")
@bp.arguments(BatchCreateIn)
@bp.response(201, BatchOut)
@bp.doc(security=SECURITY)
def create_batch(args):
    """由已比对的名单生成发放批次（草稿）；不能发放的人员暂缓并注明原因。"""
    return batches.create_batch(current_actor(), args["project_id"], args["period"], list_id=args["list_id"],
                                idempotency_key=_key(args))


@bp.get("/batches")
@bp.arguments(BatchesQuery, location="query")
@bp.response(200, BatchOut(many=True))
@bp.doc(security=SECURITY)
def list_batches(args):
    """发放批次列表（部门看本部门，银行看代发给本行的，财政看全部）。"""
    return batches.list_batches(current_actor(), **args)


@bp.get("/batches/<int:batch_id>")
@bp.response(200, BatchOut)
@bp.doc(security=SECURITY)
def get_batch(batch_id):
    """发放批次详情。"""
    return batches.get_batch(current_actor(), batch_id)


@bp.get("/batches/<int:batch_id>/lines")
@bp.arguments(LinesQuery, location="query")
@bp.response(200, LineOut(many=True))
@bp.doc(security=SECURITY)
def batch_lines(args, batch_id):
    """批次明细，含支付路径及原因、暂缓原因、银行结果。"""
    return batches.list_lines(current_actor(), batch_id, **args)


def _step(name):
    call = batches.KEYED_STEPS[name]

    def view(args, batch_id):
        return call(current_actor(), batch_id, idempotency_key=_key(args))
    view.__name__ = f"batch_{name}"
    return view


for _path, _fn, _doc in (("submit", "submit", "经办提交批次（合计自此固定）。"),
                         ("review", "review", "部门审核（不得审核本人提交的批次）。"),
                         ("approve", "approve", "财政审批（不得由提交人或审核人审批）。"),
                         ("cancel", "cancel", "作废草稿或退回的批次。"),
                         ("reconcile", "reconcile", "对账：发送 = 成功 + 失败（笔数与金额）。"),
                         ("close", "close", "归档已对账的批次。")):
    _view = _step(_fn)
    _view.__doc__ = _doc
    bp.route(f"/batches/<int:batch_id>/{_path}", methods=["POST"])(
        bp.doc(security=SECURITY)(bp.response(200, BatchOut)(bp.arguments(KeyIn)(_view))))


@bp.post("/batches/<int:batch_id>/return")
@bp.arguments(ReturnIn)
@bp.response(200, BatchOut)
@bp.doc(security=SECURITY)
def return_batch(args, batch_id):
    """退回修改（注明原因）。"""
    return batches.return_batch(current_actor(), batch_id, args["reason"], idempotency_key=_key(args))


@bp.post("/batch-lines/<int:line_id>/remove")
@bp.arguments(RemoveLineIn)
@bp.response(200, BatchOut)
@bp.doc(security=SECURITY)
def remove_line(args, line_id):
    """从草稿或退回的批次中移出一条明细。"""
    return batches.remove_line(current_actor(), line_id, args["reason"])


@bp.post("/batches/<int:batch_id>/bank-file")
@bp.arguments(KeyIn)
@bp.response(200)
@bp.doc(security=SECURITY)
def export_bank_file(args, batch_id):
    """代发银行导出已审批批次的代发文件，批次置为“已发送银行”。重试（同一幂等键）得到同一文件。"""
    actor = current_actor()
    result = exports.export_bank_file(actor, batch_id, idempotency_key=_key(args))
    return _send_bank_file(actor, batch_id, result["file_sha256"])


@bp.get("/batches/<int:batch_id>/bank-file")
@bp.response(200)
@bp.doc(security=SECURITY)
def download_bank_file(batch_id):
    """重新下载已导出的代发文件。"""
    actor = current_actor()
    return _send_bank_file(actor, batch_id, None)


def _send_bank_file(actor, batch_id, checksum):
    data, name = exports.sent_file(actor, batch_id)
    response = send_download(data, name, "text/csv")
    if checksum:
        response.headers["X-File-SHA256"] = checksum
    return response


@bp.post("/batches/<int:batch_id>/result-file")
@bp.response(200, BatchOut)
@bp.doc(security=SECURITY)
def import_result_file(batch_id):
    """导入银行回盘文件（multipart 字段 file）；与批次不符的文件整体拒收并说明原因。"""
    actor = current_actor()
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("请上传回盘文件（字段 file）", code="file_required", field="file")
    data = upload.read()
    return results.import_result_file(actor, batch_id, io.BytesIO(data),
                                      file_sha256=hashlib.sha256(data).hexdigest(), idempotency_key=_key())


@bp.post("/batches/<int:batch_id>/results")
@bp.arguments(ResultsIn)
@bp.response(200, BatchOut)
@bp.doc(security=SECURITY)
def import_results(args, batch_id):
    """银行通过接口回传发放结果（与回盘文件同样校验）。"""
    key = _key(args)
    args.pop("idempotency_key", None)
    return results.import_result_json(current_actor(), batch_id, args, idempotency_key=key)


@bp.get("/payment-failures")
@bp.arguments(FailuresQuery, location="query")
@bp.response(200, FailedLineOut(many=True))
@bp.doc(security=SECURITY)
def payment_failures(args):
    """发放失败工作清单（含银行失败原因），按岗位范围；因账户原因失败且账户未变更的标明“账户未变更”。"""
    return reissues.failures(current_actor(), **args)


class ResendIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200),
                           metadata={"description": "可以再次发放到原账户的理由，如“银行已确认解除冻结”"})


@bp.post("/payment-failures/<int:line_id>/allow-resend")
@bp.arguments(ResendIn)
@bp.response(200, FailedLineOut)
@bp.doc(security=SECURITY)
def allow_resend(args, line_id):
    """登记因账户原因失败的明细可以再次发放到原账户的理由（留痕审计）；之后的补发不再因“账户未变更”暂缓。"""
    return reissues.allow_resend(current_actor(), line_id, reason=args["reason"])


@bp.post("/reissues")
@bp.arguments(ReissueIn)
@bp.response(201, BatchOut)
@bp.doc(security=SECURITY)
def reissue(args):
    """为账户问题已解决的失败明细生成补发批次（引用原明细，不会重复发放）。"""
    return reissues.reissue(current_actor(), args["project_id"], args["period"], line_ids=args["line_ids"],
                           idempotency_key=_key(args))


@bp.get("/ledger/export.xlsx")
@bp.arguments(LedgerQuery, location="query")
@bp.response(200)
@bp.doc(security=SECURITY)
def ledger_export(args):
    """导出部门台账（xlsx）。"""
    data = ledger.department_ledger(current_actor(), **args)
    return send_xlsx(data, "台账.xlsx")


@bp.get("/ledger/supervision")
@bp.arguments(SupervisionQuery, location="query")
@bp.response(200, SupervisionRow(many=True))
@bp.doc(security=SECURITY)
def supervision(args):
    """财政资金监管汇总（按项目、部门、镇街、银行、月份）。"""
    return ledger.supervision_rows(current_actor(), **args)


@bp.get("/ledger/supervision.xlsx")
@bp.arguments(SupervisionQuery, location="query")
@bp.response(200)
@bp.doc(security=SECURITY)
def supervision_export(args):
    """导出财政资金监管报表（xlsx）。"""
    data = ledger.supervision_report(current_actor(), **args)
    return send_xlsx(data, "资金监管报表.xlsx")
