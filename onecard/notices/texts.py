"""The words of an arrival notice: a default template and overrides per project code (短信模板).

Placeholders: {period} (2026年11月), {project} (城乡居民基础养老金), {amount} (183.00), {last4} (1234),
{date} (2026年11月05日). The SMS signature from configuration is put in front. No placeholder can
carry an ID or a full account number, so none can reach an SMS.
"""
from __future__ import annotations

import string
from datetime import datetime

import sqlalchemy as sa

from onecard.errors import Invalid
from onecard.extensions import db
from onecard.timeutil import to_local
from onecard.validation import format_fen

DEFAULT_KEY = "*"
DEFAULT_TEMPLATE = "您的{period}{project}{amount}元已发放至您尾号{last4}的社保卡，请注意查收。"
PLACEHOLDERS = frozenset({"period", "project", "amount", "last4", "date"})
_QUARTERS = {"1": "一", "2": "二", "3": "三", "4": "四"}


def period_cn(period: str) -> str:
    """'2026-11' -> 2026年11月, '2026' -> 2026年度, '2026-Q1' -> 2026年第一季度, '2026-H2' -> 2026年下半年."""
    if len(period) == 4:
        return f"{period}年度"
    year, rest = period[:4], period[5:]
    if rest.startswith("Q"):
        return f"{year}年第{_QUARTERS.get(rest[1:], rest[1:])}季度"
    if rest.startswith("H"):
        return f"{year}年{'上' if rest[1:] == '1' else '下'}半年"
    return f"{year}年{int(rest)}月"


def check_template(body: str) -> str:
    """Refuse a template with unknown placeholders or broken braces (422 notice_template_invalid)."""
    body = (body or "").strip()
    if not body or len(body) > 300:
        raise Invalid("短信模板不能为空且不超过300字", code="notice_template_invalid", field="body")
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(body) if f is not None}
    except ValueError as exc:
        raise Invalid("短信模板中的大括号不成对", code="notice_template_invalid", field="body") from exc
    unknown = names - PLACEHOLDERS
    if unknown:
        raise Invalid(f"短信模板含有不支持的占位符：{', '.join(sorted(unknown))}；可用：{{period}} {{project}} "
                      "{amount} {last4} {date}", code="notice_template_invalid", field="body")
    return body


def load_templates() -> dict[str, str]:
    from onecard.notices.models import NoticeTemplate
    rows = db.session.execute(sa.select(NoticeTemplate.project_code, NoticeTemplate.body)).all()
    return {code: body for code, body in rows}


def render(templates: dict[str, str], signature: str, *, project_code: str | None, project_name: str,
           period: str, amount_fen: int, last4: str, paid_at: datetime | None) -> str:
    body = templates.get(project_code or "") or templates.get(DEFAULT_KEY) or DEFAULT_TEMPLATE
    local = to_local(paid_at) if paid_at else None
    text = body.format(period=period_cn(period), project=project_name, amount=format_fen(amount_fen),
                       last4=(last4 or "")[-4:], date=local.strftime("%Y年%m月%d日") if local else "")
    return f"{signature}{text}"
