"""Demo step for disbursement: agreements for every project, and one month paid through the whole cycle.

城乡居民基础养老金 and 最低生活保障金 (a household subsidy) for 2026-10 go from the matched list (the
lists demo's, or a small list made here) through submit, review, approval, the bank file and a result
file with a few failures, so citizens see arrivals and failures and staff see a failure worklist.
"""
from __future__ import annotations

import io
import uuid
from datetime import date

import sqlalchemy as sa

from onecard.cards.models import Card
from onecard.errors import DomainError
from onecard.extensions import db
from onecard.lists.models import RecipientList, RecipientRow
from onecard.payments import bankformats, batches, exports, results
from onecard.payments.models import Agreement, Batch, agreement_projects
from onecard.people.models import Household, Resident, ResidentCategory
from onecard.projects.models import Project
from onecard.reference.models import Bank
from onecard.staff.models import StaffAccount
from onecard.staff.service import actor_for
from onecard.timeutil import local_today, utcnow

PERIOD = "2026-10"
DEPT_PREFIX = {"05": "rs", "03": "mz"}


def _agreements() -> None:
    for p in db.session.execute(sa.select(Project).where(Project.bank_id.is_not(None))).scalars():
        a = Agreement(number=f"XY2026-{p.code}", department_id=p.department_id, bank_id=p.bank_id,
                      payment_schedule="每期次月10日前发放到账", feedback_method="file",
                      fund_supervision="财政专户直达，财政局全程监管", reconciliation_method="逐笔回盘、按批次对账",
                      valid_from=date(2026, 1, 1), valid_until=date(2028, 12, 31))
        db.session.add(a)
        db.session.flush()
        db.session.execute(sa.insert(agreement_projects).values(agreement_id=a.id, project_id=p.id))
    db.session.commit()


def _ensure_list(project: Project, limit: int) -> None:
    """Use the lists demo's matched list if there is one; otherwise list some eligible residents directly."""
    if db.session.execute(sa.select(RecipientList.id).where(RecipientList.project_id == project.id,
                                                            RecipientList.period == PERIOD,
                                                            RecipientList.status == "matched")).first():
        return
    q = sa.select(Resident.id, Resident.name, sa.type_coerce(Resident.id_number, sa.String), Resident.id_bidx,
                  Resident.town_id, Resident.village_id).where(Resident.deceased_on.is_(None))
    if project.per_household:
        q = q.join(Household, Household.head_id == Resident.id)
    if project.required_category:
        q = q.where(sa.exists().where(ResidentCategory.resident_id == Resident.id,
                                      ResidentCategory.category == project.required_category))
    elif project.name == "城乡居民基础养老金":
        q = q.where(Resident.birth_year <= 1966)
    people = db.session.execute(q.order_by(Resident.id).limit(limit)).all()
    if not people:
        return
    cards = dict(db.session.execute(sa.select(Card.resident_id, Card.status).where(
        Card.resident_id.in_([p.id for p in people]), Card.status != "cancelled")).all())
    match = {"active": "usable", "issued": "not_activated", "ready": "not_issued", "applied": "not_issued",
             "lost": "lost_or_cancelled"}
    amount = project.standard_fen or 26000
    lst = RecipientList(project_id=project.id, period=PERIOD, department_id=project.department_id,
                        file_name=f"{project.name}{PERIOD}名单（演示）.xlsx", file_sha256="0" * 64,
                        row_count=len(people), total_fen=amount * len(people), status="matched", matched_at=utcnow())
    db.session.add(lst)
    db.session.flush()
    raw = sa.table("recipient_rows", *[sa.column(c.name) for c in RecipientRow.__table__.columns])
    db.session.execute(sa.insert(raw), [
        {"list_id": lst.id, "project_id": project.id, "period": PERIOD, "row_no": i + 2, "name": p.name,
         "id_number": p[2], "id_bidx": p.id_bidx, "ethnicity": "01", "mobile": None, "mobile_last4": None,
         "town_id": p.town_id, "village_id": p.village_id, "bank_id": project.bank_id, "account": None,
         "account_last4": None, "amount_fen": amount, "expected_date": None,
         "match_result": match.get(cards.get(p.id), "not_applied"), "resident_id": p.id, "card_id": None,
         "matched_at": utcnow(), "match_changed_at": None} for i, p in enumerate(people)])
    db.session.commit()


def _actor(username: str):
    account = db.session.execute(sa.select(StaffAccount).where(StaffAccount.username == username)).scalar_one()
    return actor_for(account, channel="cli")


def _pay_month(project: Project, prefix: str, failures: list[str]) -> None:
    operator, reviewer = _actor(f"{prefix}_jb"), _actor(f"{prefix}_sh")
    finance = _actor("finance")
    bank = db.session.get(Bank, project.bank_id)
    bank_op = _actor(f"bank_{bank.code.lower()}")
    key = lambda: uuid.uuid4().hex  # noqa: E731
    b = batches.create_batch(operator, project.id, PERIOD, idempotency_key=key())
    batches.submit(operator, b["id"], idempotency_key=key())
    batches.review(reviewer, b["id"], idempotency_key=key())
    batches.approve(finance, b["id"], idempotency_key=key())
    exports.export_bank_file(bank_op, b["id"], idempotency_key=key())
    batch = db.session.get(Batch, b["id"])
    fmt = bankformats.format_named(batch.bank_layout)
    f = io.BytesIO(exports.read_bank_file(batch))
    f.readline()
    details = [line.decode(fmt.encoding).rstrip("\r\n").split(fmt.sep) for line in f if line.strip()]
    failing = {int(d[1]): failures[i] for i, d in enumerate(details[3::7][:len(failures)])}
    # The bank dates its answers (入账日期): the demo's bank answers the same day.
    answer = fmt.write_result_file(b["number"], [
        (int(d[1]), fmt.parse_money(d[4], ""), "F" if int(d[1]) in failing else "S", failing.get(int(d[1]), ""), "", local_today())
        for d in details])
    data = io.BytesIO(answer)
    import hashlib
    results.import_result_file(bank_op, b["id"], data, file_sha256=hashlib.sha256(answer).hexdigest(),
                               idempotency_key=key())
    results.reconcile(operator, b["id"], idempotency_key=key())


def run(ctx) -> None:
    # Until the initial migration is regenerated with these tables, a migrated database has none of them.
    if not sa.inspect(db.engine).has_table("batches"):
        return
    _agreements()
    for name, limit, failures in (("城乡居民基础养老金", 400, ["frozen", "lost", "name_mismatch"]),
                                  ("最低生活保障金", 120, ["closed"])):
        project_id = ctx.project_ids.get(name)
        if not project_id:
            continue
        project = db.session.get(Project, project_id)
        _ensure_list(project, limit)
        prefix = DEPT_PREFIX.get(project.department.code)
        if prefix is None:
            continue
        try:
            _pay_month(project, prefix, failures)
        except DomainError:
            db.session.rollback()   # e.g. nobody payable in a tiny demo county: the step is skipped
