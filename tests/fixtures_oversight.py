"""Oversight fixtures: write projects, recipient lists and ledger rows directly (synthetic, hand-checkable)."""
from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from onecard.extensions import db
from onecard.lists.models import RecipientList, RecipientRow
from onecard.oversight import summary
from onecard.payments.models import LedgerEntry
from onecard.privacy import blind_index
from onecard.projects.models import Project


class OversightBuilder:
    def __init__(self, county):
        self.county = county
        self._line = itertools.count(1)
        self._row = itertools.count(1)

    def dept(self, name: str) -> int:
        return self.county["departments"][name]

    def bank(self, code: str = "RCB") -> int:
        return self.county["banks"][code]

    def project(self, dept_name: str = "县民政局", name: str = "高龄津贴", *, standard_fen=None,
                required_category=None, status="coded", code=None, created_at=None) -> Project:
        p = Project(department_id=self.dept(dept_name), category="测试大类", name=name, cycle="monthly",
                    bank_id=self.bank(), standard_fen=standard_fen, required_category=required_category,
                    status=status, code=code or (f"T{next(self._row):06d}" if status != "registered" else None),
                    created_at=created_at or datetime(2026, 1, 5), coded_at=datetime(2026, 1, 6)
                    if status != "registered" else None)
        db.session.add(p)
        db.session.commit()
        return p

    def recipient_list(self, project: Project, period: str, rows, *, status="matched",
                       matched_at=datetime(2026, 2, 1)) -> RecipientList:
        """rows: (resident, amount_fen, match_result)."""
        lst = RecipientList(project_id=project.id, period=period, department_id=project.department_id,
                            file_name="名单.xlsx", file_sha256="0" * 64, row_count=len(rows),
                            total_fen=sum(a for _, a, _ in rows), status=status,
                            matched_at=matched_at if status == "matched" else None)
        db.session.add(lst)
        db.session.flush()
        for i, (resident, amount, match) in enumerate(rows, start=1):
            db.session.add(RecipientRow(
                list_id=lst.id, project_id=project.id, period=period, row_no=i, name=resident.name,
                id_number=resident.id_number, id_bidx=resident.id_bidx, ethnicity="01", town_id=resident.town_id,
                village_id=resident.village_id, bank_id=self.bank(), amount_fen=amount, match_result=match,
                resident_id=resident.id))
        db.session.commit()
        return lst

    def pay(self, resident, project: Project, period: str, amount_fen: int, *, outcome="paid", batch_id=1,
            bank="RCB", account=None, payee=None, route=None, failure_code=None, failure_reason=None,
            reissue_of=None, approved_at=datetime(2026, 3, 1, 2, 0), occurred_at=datetime(2026, 3, 3, 2, 0)):
        line = next(self._line)
        e = LedgerEntry(
            line_id=line, batch_id=batch_id, project_id=project.id, department_id=project.department_id,
            period=period, resident_id=resident.id, payee_resident_id=payee.id if payee else None,
            route=route or ("proxy" if payee else "own_card"), bank_id=self.bank(bank),
            account_last4=(account or "0000")[-4:], account_bidx=blind_index(account, "account") if account else None,
            town_id=resident.town_id, village_id=resident.village_id, amount_fen=amount_fen, outcome=outcome,
            failure_code=failure_code, failure_reason=failure_reason or ("账户异常" if outcome == "failed" else None),
            reissue_of_line_id=reissue_of, approved_at=approved_at, occurred_at=occurred_at)
        db.session.add(e)
        db.session.flush()
        # As the payments service does: the ledger write and its summary in one transaction.
        summary.record_ledger(LedgerEntry.id == e.id)
        db.session.commit()
        return e


@pytest.fixture
def ov(county):
    return OversightBuilder(county)
