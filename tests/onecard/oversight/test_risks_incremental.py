"""Risk checks that read only what is new, and the small tables they start from, against the whole ledger."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from onecard.actors import SYSTEM
from onecard.oversight import risks, summary
from onecard.oversight.models import AccountPayee, PayeeProject, ProxyWard, RiskFinding, RiskWatermark
from onecard.people.models import ResidentCategory
from tests.factories import make_resident, new_account


def _ripen(db):
    """As if the last run was long enough ago that its watermark is safe."""
    for mark in db.session.execute(sa.select(RiskWatermark)).scalars():
        if mark.pending_at is not None:
            mark.pending_at -= risks.WATERMARK_MARGIN + timedelta(minutes=1)
    db.session.commit()


def _subjects(db, code):
    return set(db.session.execute(sa.select(RiskFinding.subject_key).where(RiskFinding.check_code == code))
               .scalars())


def test_duplicate_check_reads_new_rows_yet_finds_repeats_of_old_ones(db, ov, county):
    t, v = county["towns"][0], county["villages"][0]
    elder = ov.project("县民政局", "高龄津贴", standard_fen=10000)
    a, b, c = make_resident(t, v), make_resident(t, v), make_resident(t, v)
    ov.pay(a, elder, "2026-03", 10000, batch_id=1)
    ov.pay(b, elder, "2026-03", 10000, batch_id=1)
    risks.run_all_checks(SYSTEM)
    assert _subjects(db, "duplicate_payment") == set()
    # Not ripe yet: the next run still reads from the start.
    mark = db.session.get(RiskWatermark, "duplicate_payment")
    assert (mark.safe_id, mark.pending_id) == (0, 2)
    _ripen(db)
    ov.pay(b, elder, "2026-03", 10000, batch_id=2)          # repeats an old row
    ov.pay(c, elder, "2026-04", 10000, batch_id=3)
    ov.pay(c, elder, "2026-04", 10000, batch_id=4)          # two new rows repeat each other
    ov.pay(a, elder, "2026-04", 10000, batch_id=3)          # a new period: not a repeat
    run = risks.run_all_checks(SYSTEM)
    assert db.session.get(RiskWatermark, "duplicate_payment").safe_id == 2
    assert _subjects(db, "duplicate_payment") == {f"{b.id}:{elder.id}:2026-03", f"{c.id}:{elder.id}:2026-04"}
    finding = db.session.execute(sa.select(RiskFinding).where(
        RiskFinding.subject_key == f"{b.id}:{elder.id}:2026-03")).scalar_one()
    assert finding.amount_fen == 20000 and finding.first_run_id == run.id     # evidence counts the old row too
    # A failed row is no payment; nothing new: nothing found, the worklist keeps what it had.
    _ripen(db)
    ov.pay(a, elder, "2026-04", 10000, batch_id=5, outcome="failed")
    run = risks.run_all_checks(SYSTEM)
    assert '"duplicate_payment": 0' in run.counts
    assert len(_subjects(db, "duplicate_payment")) == 2


def test_reference_changes_reach_old_payments(db, ov, county):
    """Checks driven by registry facts see old payments when the fact changes later (not incremental)."""
    t, v = county["towns"][0], county["villages"][0]
    dibao = ov.project("县民政局", "最低生活保障金", required_category="dibao")
    p = make_resident(t, v, categories=("dibao",))
    ov.pay(p, dibao, "2026-03", 50000)
    risks.run_all_checks(SYSTEM)
    _ripen(db)
    assert _subjects(db, "category_mismatch") == _subjects(db, "paid_deceased") == set()
    # The category is found to have ended before the payment; the person is registered deceased.
    db.session.execute(sa.update(ResidentCategory).where(ResidentCategory.resident_id == p.id)
                       .values(until=date(2026, 2, 1)))
    p.deceased_on = date(2026, 3, 1)
    db.session.commit()
    risks.run_all_checks(SYSTEM)
    assert _subjects(db, "category_mismatch") == _subjects(db, "paid_deceased") == {f"{p.id}:{dibao.id}"}


def test_small_tables_equal_a_rebuild_from_the_ledger(db, ov, county):
    t, v = county["towns"][0], county["villages"][0]
    elder = ov.project("县民政局", "高龄津贴", standard_fen=10000)
    a, b, proxy = make_resident(t, v), make_resident(t, v), make_resident(t, v)
    acct = new_account()
    ov.pay(a, elder, "2026-03", 10000, account=acct)
    ov.pay(a, elder, "2026-04", 12000, account=acct, occurred_at=datetime(2026, 4, 3))
    ov.pay(b, elder, "2026-04", 10000, account=acct, outcome="failed")        # failed: not a payee
    ov.pay(b, elder, "2026-05", 10000, payee=proxy, account=new_account())

    def tables():
        return [sorted(tuple(r) for r in db.session.execute(sa.select(m)).all())
                for m in (PayeeProject.__table__, AccountPayee.__table__, ProxyWard.__table__)]
    grown = tables()
    summary.rebuild_ledger()
    db.session.commit()
    assert tables() == grown
    payee = db.session.get(PayeeProject, (a.id, elder.id))
    assert payee.max_fen == 12000 and payee.first_at < payee.last_at
    assert [r[1] for r in grown[1]] == [a.id]
    assert grown[2] == [(proxy.id, b.id)]
