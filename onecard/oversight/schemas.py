"""The oversight documents' schemas (statistics, progress, risk checks, 公示, audit trail): one declaration,
read by the staff API and the console alike."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from onecard.oversight import risks, stats


class PageArgs(Schema):
    page = fields.Integer(load_default=None, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=None, validate=validate.Range(min=1, max=200))


class StatsArgs(Schema):
    dimension = fields.List(fields.String(), load_default=None, metadata={"description": "可重复；缺省为全部维度"})


class StatsRowsArgs(PageArgs):
    dimension = fields.String(required=True, validate=validate.OneOf(list(stats.DIMENSIONS)))
    key = fields.String(required=True, validate=validate.Length(min=1, max=20))
    measure = fields.String(required=True,
                            validate=validate.OneOf([*stats.LIST_MEASURES, *stats.LEDGER_MEASURES]))
    failure_code = fields.String(load_default=None, validate=validate.Length(max=20))


class ProgressArgs(Schema):
    year = fields.Integer(load_default=None, validate=validate.Range(min=2000, max=2100))
    today = fields.Date(load_default=None)


class ThresholdsSchema(Schema):
    account_max_households = fields.Integer(validate=validate.Range(min=1, max=10_000))
    proxy_max_wards = fields.Integer(validate=validate.Range(min=1, max=10_000))


class RiskRunArgs(Schema):
    thresholds = fields.Nested(ThresholdsSchema, load_default=None)
    checks = fields.List(fields.String(validate=validate.OneOf([c.code for c in risks.CHECKS])), load_default=None)


class FindingArgs(PageArgs):
    check = fields.String(load_default=None, validate=validate.OneOf([c.code for c in risks.CHECKS]))
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "confirmed", "dismissed"]))


class MarkArgs(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["open", "confirmed", "dismissed"]))
    note = fields.String(load_default=None, validate=validate.Length(max=500))


class PublishArgs(Schema):
    project_id = fields.Integer(required=True)
    period = fields.String(required=True, validate=validate.Length(min=4, max=20))


class DisclosureWithdrawArgs(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=300))


class AuditArgs(PageArgs):
    entity = fields.String(load_default=None, validate=validate.Length(max=40))
    entity_id = fields.String(load_default=None, validate=validate.Length(max=40))
    actor = fields.Integer(load_default=None, metadata={"description": "操作人账号编号"})
    actor_kind = fields.String(load_default=None, validate=validate.OneOf(["staff", "citizen", "system", "bank_api"]))
    action = fields.String(load_default=None, validate=validate.Length(max=80),
                           metadata={"description": "精确匹配；以“.”结尾时按前缀匹配"})
    since = fields.DateTime(load_default=None, metadata={"description": "UTC"})
    until = fields.DateTime(load_default=None, metadata={"description": "UTC"})
