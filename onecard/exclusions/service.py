"""Subsidies that exclude each other (互斥补贴): the one place of the rule.

- ``create_rule`` / ``retire_rule`` / ``list_rules``: the bureau's administrator records a group of projects one
  person (or household) may not receive for the same period, with the rule's source (audited).
- ``list_warnings``: at list upload, the rows whose person is already listed, in any department, in a project
  excluding this one for the same period; only the other project's name is revealed.
- ``hold_conflicts``: at batch creation, each routed line whose person (or household) is listed or has a live line
  in an excluding project for the period becomes 互斥待定 (disputed: still live, so nothing else pays the period);
  ``decide``: the owning department releases it (with the reason) or takes it out; a batch cannot be submitted
  while it holds disputed lines. Every decision is audited.
- ``paid_conflicts``: what the risk check (oversight.risks ``excluded_subsidies``) reports: a person or household
  paid (and not returned) by two projects of one rule for one period, across departments.
"""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from onecard import audit
from onecard.actors import SYSTEM, Actor
from onecard.errors import Conflict, Invalid, NotFound
from onecard.exclusions.models import SCOPES, ExclusionRule, exclusion_rule_projects
from onecard.extensions import db
from onecard.lists.models import RecipientList, RecipientRow
from onecard.payments import idempotency
from onecard.payments.common import _lines, line_view, refresh_counts
from onecard.payments.lifecycle import move_lines
from onecard.payments.models import LIVE_LINE_STATES, Batch, BatchLine, LedgerEntry
from onecard.people.models import Resident
from onecard.privacy import mask_name
from onecard.projects.models import Project
from onecard.staff import permissions
from onecard.timeutil import utcnow
from onecard.validation import normalize_text

permissions.register({
    "exclusion.manage": {"admin"},
    "exclusion.read": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer"},
    "exclusion.decide": {"dept_operator", "dept_reviewer"},
})

_rp = exclusion_rule_projects


# ---------------------------------------------------------------- rules

def rule_view(rule: ExclusionRule) -> dict:
    projects = db.session.execute(sa.select(Project.id, Project.name).join(_rp, _rp.c.project_id == Project.id)
                                  .where(_rp.c.rule_id == rule.id).order_by(Project.id)).all()
    return {"id": rule.id, "name": rule.name, "scope": rule.scope, "scope_label": SCOPES[rule.scope],
            "source": rule.source, "status": rule.status, "project_ids": [p for p, _ in projects],
            "project_names": [n for _, n in projects]}


def create_rule(actor: Actor, *, name: str, scope: str, source: str, project_ids: list[int]) -> dict:
    permissions.require(actor, "exclusion.manage")
    name = normalize_text(name, field="name", max_len=100)
    source = normalize_text(source, field="source", max_len=300)
    if scope not in SCOPES:
        raise Invalid("互斥范围只能是同一人（person）或同一户（household）", code="scope_invalid", field="scope")
    ids = sorted(set(project_ids or []))
    if len(ids) < 2:
        raise Invalid("互斥规则至少包含两个不同的项目", code="projects_too_few", field="project_ids")
    found = set(db.session.execute(sa.select(Project.id).where(Project.id.in_(ids))).scalars())
    if found != set(ids):
        raise Invalid(f"项目不存在：{'、'.join(str(i) for i in ids if i not in found)}", code="project_not_found",
                      field="project_ids")
    rule = ExclusionRule(name=name, scope=scope, source=source, status="active", created_by=actor.id)
    db.session.add(rule)
    db.session.flush()
    db.session.execute(sa.insert(_rp), [{"rule_id": rule.id, "project_id": p} for p in ids])
    audit.record("exclusion.rule_created", actor=actor, entity_type="exclusion_rule", entity_id=rule.id,
                 after={"name": name, "scope": scope, "source": source, "project_ids": ids})
    db.session.commit()
    return rule_view(rule)


def retire_rule(actor: Actor, rule_id: int, reason: str) -> dict:
    permissions.require(actor, "exclusion.manage")
    reason = normalize_text(reason, field="reason", max_len=200)
    rule = db.session.get(ExclusionRule, rule_id)
    if rule is None:
        raise NotFound("互斥规则不存在", code="rule_not_found")
    changed = db.session.execute(sa.update(ExclusionRule).where(ExclusionRule.id == rule.id,
                                                                ExclusionRule.status == "active")
                                 .values(status="retired", retired_at=utcnow())).rowcount
    if changed != 1:
        raise Conflict("该规则已停用", code="rule_retired")
    audit.record("exclusion.rule_retired", actor=actor, entity_type="exclusion_rule", entity_id=rule.id,
                 before={"status": "active"}, after={"status": "retired"}, note=reason)
    db.session.commit()
    db.session.refresh(rule)
    return rule_view(rule)


def list_rules(actor: Actor) -> list[dict]:
    permissions.require(actor, "exclusion.read")
    return [rule_view(r) for r in db.session.execute(sa.select(ExclusionRule).order_by(ExclusionRule.id)).scalars()]


def _others(project_id: int) -> list[tuple[int, int, str, str]]:
    """(other project, rule id, rule scope, rule source) for each active rule excluding ``project_id``."""
    mine = sa.orm.aliased(_rp)
    return db.session.execute(
        sa.select(_rp.c.project_id, ExclusionRule.id, ExclusionRule.scope, ExclusionRule.source)
        .join(ExclusionRule, ExclusionRule.id == _rp.c.rule_id)
        .join(mine, sa.and_(mine.c.rule_id == _rp.c.rule_id, mine.c.project_id == project_id))
        .where(ExclusionRule.status == "active", _rp.c.project_id != project_id)).all()


def _project_names(ids) -> dict[int, str]:
    return dict(db.session.execute(sa.select(Project.id, Project.name).where(Project.id.in_(sorted(set(ids))))).all())


# ---------------------------------------------------------------- list upload

def list_warnings(actor: Actor, list_id: int) -> list[dict]:
    """Rows of a list whose person is listed (any department, any list not withdrawn) for the same period in a
    project excluding this one: row number, the person (masked) and the other project's name only."""
    lst = db.session.get(RecipientList, list_id)
    if lst is None or not permissions.in_scope(actor, lst):
        raise NotFound("发放名单不存在", code="list_not_found")
    others = _others(lst.project_id)
    if not others:
        return []
    other_ids = sorted({o[0] for o in others})
    other = sa.orm.aliased(RecipientRow)
    other_list = sa.orm.aliased(RecipientList)
    rows = db.session.execute(
        sa.select(RecipientRow.row_no, RecipientRow.name, other.project_id).distinct()
        .join(other, sa.and_(other.id_bidx == RecipientRow.id_bidx, other.period == RecipientRow.period,
                             other.project_id.in_(other_ids)))
        .join(other_list, other_list.id == other.list_id)
        .where(RecipientRow.list_id == lst.id, other_list.status != "withdrawn")
        .order_by(RecipientRow.row_no)).all()
    names = _project_names(p for _, _, p in rows)
    return [{"row": row_no, "name": mask_name(name), "other_project": names[p],
             "message": f"第{row_no}行 {mask_name(name)} 已在“{names[p]}”同期名单中，两项补贴不能同期享受"}
            for row_no, name, p in rows]


# ---------------------------------------------------------------- batch creation and the department's decision

def _household_of():
    """The household of the batch line being checked (correlated explicitly: it sits two subqueries deep)."""
    return (sa.select(Resident.household_id).where(Resident.id == _lines.c.resident_id)
            .correlate(_lines).scalar_subquery())


def hold_conflicts(batch: Batch) -> int:
    """Move to 互斥待定 each pending line of ``batch`` whose person (or, for a household rule, household) is listed
    (a list not withdrawn) or has a live line in an excluding project for the line's period. Returns how many."""
    others = _others(batch.project_id)
    if not others:
        return 0
    held = 0
    by_rule: dict[tuple, list[int]] = defaultdict(list)
    for other_project, rule_id, scope, source in others:
        by_rule[(rule_id, scope, source)].append(other_project)
    names = _project_names(p for p, *_ in others)
    for (rule_id, scope, source), projects in by_rule.items():
        other_line = sa.orm.aliased(BatchLine)
        other_row, other_list = sa.orm.aliased(RecipientRow), sa.orm.aliased(RecipientList)
        if scope == "person":
            same_line = other_line.resident_id == _lines.c.resident_id
            same_row = other_row.resident_id == _lines.c.resident_id
        else:
            member = sa.orm.aliased(Resident)
            same_line = other_line.resident_id.in_(sa.select(member.id).where(member.household_id == _household_of()))
            same_row = other_row.resident_id.in_(sa.select(member.id).where(member.household_id == _household_of()))
        for project_id in projects:
            live = sa.exists().where(same_line, other_line.project_id == project_id,
                                     other_line.period == _lines.c.period, other_line.status.in_(LIVE_LINE_STATES))
            listed = sa.exists().where(same_row, other_row.project_id == project_id,
                                       other_row.period == _lines.c.period, other_list.id == other_row.list_id,
                                       other_list.status != "withdrawn")
            reason = (f"互斥待定：同期已在“{names[project_id]}”中，两项不能同时享受（依据：{source}），"
                      "请主管部门决定发放或移出")[:200]
            ids = db.session.execute(sa.select(_lines.c.id).where(
                _lines.c.batch_id == batch.id, _lines.c.status == "pending", _lines.c.resident_id.is_not(None),
                sa.or_(live, listed))).scalars().all()
            if not ids:
                continue
            held += move_lines("disputed", _lines.c.id.in_(ids), route_reason=reason)
            for line_id in ids:
                audit.record("exclusion.line_held", actor=SYSTEM, entity_type="batch_line", entity_id=line_id,
                             after={"rule_id": rule_id, "other_project_id": project_id})
    return held


def disputed_count(batch_id: int) -> int:
    return int(db.session.execute(sa.select(sa.func.count()).where(_lines.c.batch_id == batch_id,
                                                                   _lines.c.status == "disputed")).scalar())


def decide(actor: Actor, line_id: int, decision: str, reason: str, *, idempotency_key: str | None) -> dict:
    """The owning department decides a 互斥待定 line: 'release' (pay it in this batch) or 'cancel' (take it out)."""
    permissions.require(actor, "exclusion.decide")
    reason = normalize_text(reason, field="reason", max_len=200)
    if decision not in ("release", "cancel"):
        raise Invalid("决定只能是 release（发放）或 cancel（移出）", code="decision_invalid", field="decision")

    def work():
        line = db.session.get(BatchLine, line_id)
        if line is None or not permissions.in_scope(actor, line):
            raise NotFound("明细不存在", code="line_not_found", field="line_id")
        batch = db.session.get(Batch, line.batch_id)
        if line.status != "disputed":
            raise Conflict("该明细不是互斥待定的明细", code="line_not_disputed", field="line_id")
        if batch.status not in ("draft", "returned"):
            raise Conflict("只有草稿或退回的批次可以处理互斥待定的明细", code="batch_not_editable")
        target = "pending" if decision == "release" else "cancelled"
        values = {"route_reason": f"互斥已核实，主管部门决定发放：{reason}"[:200]} if target == "pending" else {}
        if move_lines(target, _lines.c.id == line.id, only_from=("disputed",), **values) != 1:
            raise Conflict("该明细已被他人处理，请刷新后核对", code="line_concurrent_change", field="line_id")
        refresh_counts(batch)
        audit.record(f"exclusion.line_{'released' if target == 'pending' else 'cancelled'}", actor=actor,
                     entity_type="batch_line", entity_id=line.id, before={"status": "disputed"},
                     after={"status": target}, note=reason)
        db.session.refresh(line)
        return line_view(line)
    return idempotency.run(actor, "exclusion.decide", idempotency_key,
                           {"line_id": line_id, "decision": decision, "reason": reason}, work)


# ---------------------------------------------------------------- the risk check

def paid_conflicts() -> list[dict]:
    """People (or households) paid, and not returned, by two or more projects of one active rule for one period:
    one row per (rule, person or household, period) with the projects, departments and ledger ids."""
    L = LedgerEntry
    reversed_ = sa.orm.aliased(LedgerEntry)
    kept = sa.and_(L.outcome == "paid", ~sa.exists().where(reversed_.line_id == L.line_id,
                                                            reversed_.outcome == "returned"))
    out = []
    for rule in db.session.execute(sa.select(ExclusionRule).where(ExclusionRule.status == "active")).scalars():
        projects = db.session.execute(sa.select(_rp.c.project_id).where(_rp.c.rule_id == rule.id)).scalars().all()
        who = (sa.func.coalesce(Resident.household_id, -Resident.id) if rule.scope == "household"
               else L.resident_id).label("who")
        stmt = (sa.select(who, L.period, sa.func.count(sa.distinct(L.project_id)).label("projects"),
                          sa.func.min(L.resident_id).label("resident_id"), sa.func.min(L.town_id).label("town_id"),
                          sa.func.min(L.village_id).label("village_id"), sa.func.sum(L.amount_fen).label("fen"))
                .join(Resident, Resident.id == L.resident_id)
                .where(kept, L.project_id.in_(projects))
                .group_by(who, L.period).having(sa.func.count(sa.distinct(L.project_id)) > 1))
        for r in db.session.execute(stmt):
            rows = db.session.execute(
                sa.select(L.id, L.project_id, L.department_id, L.resident_id)
                .join(Resident, Resident.id == L.resident_id)
                .where(kept, L.project_id.in_(projects), L.period == r.period,
                       (sa.func.coalesce(Resident.household_id, -Resident.id) if rule.scope == "household"
                        else L.resident_id) == r.who)).all()
            out.append({"rule_id": rule.id, "rule": rule.name, "source": rule.source, "scope": rule.scope,
                        "who": r.who, "period": r.period, "resident_id": r.resident_id, "town_id": r.town_id,
                        "village_id": r.village_id, "amount_fen": int(r.fen),
                        "project_ids": sorted({x.project_id for x in rows}),
                        "department_ids": sorted({x.department_id for x in rows}),
                        "ledger_ids": sorted(x.id for x in rows)})
    return out
