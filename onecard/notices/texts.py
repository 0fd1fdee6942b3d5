"""The words of an arrival notice: a default template and overrides per project code (短信模板).

Placeholders: {period} (2026年11月), {project} (城乡居民基础养老金), {amount} (183.00), {last4} (1234),
{date} (2026年11月05日, the day the money arrived: the bank's value date when it gave one), {account}
(where the money went, in words a resident understands: 您本人的社保卡, 户主某某的社保卡, 您的“一本通”账户,
代管人某某的账户), {payee} (who received it) and {beneficiary} (whom it is for). The SMS signature from
configuration is put in front. No placeholder can carry an ID or a full account number, so none can reach an SMS.

A notice tells the truth about where the money went: a template that does not say {account} speaks of the
resident's own card, so it is used for own-card payments only; a payment into a 一本通 passbook or a legal
proxy's account is told with the built-in words for that route (ROUTE_TEXTS) unless the template says
{account}; a per-household project's notice says the money is the household's (ROUTE_TEXTS["household"], or
the project's own template when it says {account}); and the payee (head or proxy) gets their own notice
(PAYEE_TEXTS) saying whose money it is.
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
DEFAULT_TEMPLATE = "您的{period}{project}{amount}元已于{date}发放至{account}（尾号{last4}），请注意查收。"
PLACEHOLDERS = frozenset({"period", "project", "amount", "last4", "date", "account", "payee", "beneficiary"})
# To the listed resident, when the money did not go to their own card (the project's template is used when it
# says {account}). A per-household project (到户资金) says the money is the household's.
ROUTE_TEXTS = {
    "household": "您家的{period}{project}{amount}元（到户资金，归全户所有）已于{date}发放至{account}（尾号{last4}），"
                 "请注意查收。",
    "proxy": "您的{period}{project}{amount}元已于{date}发放至{account}（尾号{last4}），由其依法代为领取和管理。",
    "other": DEFAULT_TEMPLATE,
}
# To the payee (household head or legal proxy) of money that is someone else's.
PAYEE_TEXTS = {
    "household": "您家{beneficiary}名下的{period}{project}{amount}元（到户资金，归全户所有）已于{date}发放至{account}"
                 "（尾号{last4}），请注意查收。",
    "proxy": "您代管的{beneficiary}的{period}{project}{amount}元已于{date}发放至{account}（尾号{last4}），"
             "请依法代为管理，专款用于本人。",
    # A ward's household's 到户 money paid to the proxy: it is the household's, not the ward's alone.
    "household_proxy": "您代管的{beneficiary}家的{period}{project}{amount}元（到户资金，归全户所有）已于{date}发放至"
                       "{account}（尾号{last4}），请依法代为管理，用于全户。",
    "other": "{beneficiary}的{period}{project}{amount}元已于{date}发放至{account}（尾号{last4}），请注意查收。",
}
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
                      "{amount} {last4} {date} {account} {payee} {beneficiary}", code="notice_template_invalid",
                      field="body")
    return body


def load_templates() -> dict[str, str]:
    from onecard.notices.models import NoticeTemplate
    rows = db.session.execute(sa.select(NoticeTemplate.project_code, NoticeTemplate.body)).all()
    return {code: body for code, body in rows}


def account_words(route: str | None, *, to_payee: bool, self_paid: bool, payee_name: str | None) -> str:
    """Where the money went, as the addressee reads it ("您本人的社保卡", "户主王某某的社保卡", ...)."""
    name = payee_name or ""
    if route in (None, "own_card"):
        return "您本人的社保卡"
    if route == "head_card":
        return "您（户主）本人的社保卡" if to_payee or self_paid else f"户主{name}的社保卡"
    if route == "passbook":
        return "您的“一本通”账户" if to_payee or self_paid else f"户主{name}的“一本通”账户"
    if route == "proxy":
        return "您的账户" if to_payee else f"代管人{name}的账户"
    return "您的账户"


def render(templates: dict[str, str], signature: str, *, project_code: str | None, project_name: str,
           period: str, amount_fen: int, last4: str, paid_at: datetime | None, route: str | None = None,
           payee_name: str | None = None, beneficiary_name: str | None = None, per_household: bool = False,
           self_paid: bool = True, to_payee: bool = False) -> str:
    """The notice's text. ``self_paid``: the listed resident received it themselves; ``to_payee``: this notice
    goes to the payee (head or proxy) about someone else's money."""
    kind = "proxy" if route == "proxy" else ("household" if per_household or route == "head_card" else "other")
    if to_payee:
        body = PAYEE_TEXTS["household_proxy" if kind == "proxy" and per_household else kind]
    else:
        project_body = templates.get(project_code or "")
        body = project_body or templates.get(DEFAULT_KEY) or DEFAULT_TEMPLATE
        if per_household:
            # The household's money: the county-wide text is about a person's own payment; only the project's
            # own text, saying {account}, replaces the household words.
            if not (project_body and "{account}" in project_body):
                body = ROUTE_TEXTS["household"]
        elif route not in (None, "own_card") and "{account}" not in body:
            body = ROUTE_TEXTS[kind]    # the text speaks of the resident's own card: not true of this payment
    local = to_local(paid_at) if paid_at else None
    text = body.format(period=period_cn(period), project=project_name, amount=format_fen(amount_fen),
                       last4=(last4 or "")[-4:], date=local.strftime("%Y年%m月%d日") if local else "",
                       account=account_words(route, to_payee=to_payee, self_paid=self_paid, payee_name=payee_name),
                       payee=payee_name or "", beneficiary=beneficiary_name or "")
    return f"{signature}{text}"
