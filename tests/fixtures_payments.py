"""Fixtures for disbursement tests: projects, agreements, matched lists made by direct inserts, staff."""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
from dataclasses import dataclass, field
from datetime import date

import pytest
import sqlalchemy as sa

from onecard.extensions import db
from onecard.lists.models import RecipientList, RecipientRow
from onecard.payments.models import Agreement, agreement_projects
from onecard.privacy import blind_index
from onecard.projects.models import Project
from onecard.timeutil import utcnow

_n = itertools.count(1)
PERIOD = "2026-10"


def make_project(department_id: int, bank_id: int, name: str, *, per_household: bool = False,
                 via_passbook: bool = False, standard_fen: int | None = None) -> Project:
    n = next(_n)
    p = Project(department_id=department_id, category="测试大类", name=name, cycle="monthly", bank_id=bank_id,
                via_passbook=via_passbook, per_household=per_household, standard_fen=standard_fen,
                status="coded", code=f"99{n:05d}", coded_at=utcnow())
    db.session.add(p)
    db.session.commit()
    return p


def make_agreement(department_id: int, bank_id: int, project_ids: list[int], *, valid_from=date(2026, 1, 1),
                   valid_until=date(2099, 12, 31), status="active") -> Agreement:
    a = Agreement(number=f"XY{next(_n):06d}", department_id=department_id, bank_id=bank_id,
                  payment_schedule="每月10日前", feedback_method="file", fund_supervision="财政专户监管",
                  reconciliation_method="逐笔回盘对账", valid_from=valid_from, valid_until=valid_until, status=status)
    db.session.add(a)
    db.session.flush()
    db.session.execute(sa.insert(agreement_projects), [{"agreement_id": a.id, "project_id": p} for p in project_ids])
    db.session.commit()
    return a


def make_list(project: Project, entries: list[tuple], *, period: str = PERIOD) -> RecipientList:
    """entries: (resident or None, amount_fen, match_result[, name]) -> a matched list by direct insert."""
    lst = RecipientList(project_id=project.id, period=period, department_id=project.department_id,
                        file_name="名单.xlsx", file_sha256="0" * 64, row_count=len(entries),
                        total_fen=sum(e[1] for e in entries), status="matched", matched_at=utcnow())
    db.session.add(lst)
    db.session.flush()
    rows = []
    for i, e in enumerate(entries, start=1):
        resident, amount, match = e[0], e[1], e[2]
        idn = resident.id_number if resident is not None else f"37083119500101{next(_n) % 10000:04d}"
        rows.append({"list_id": lst.id, "project_id": project.id, "period": period, "row_no": i + 1,
                     "name": (e[3] if len(e) > 3 else None) or (resident.name if resident else "无此人"),
                     "id_number": idn, "id_bidx": blind_index(idn, "id"), "ethnicity": "01",
                     "town_id": resident.town_id if resident else db.session.execute(
                         sa.text("select min(id) from towns")).scalar(),
                     "village_id": resident.village_id if resident else None, "bank_id": project.bank_id,
                     "amount_fen": amount, "match_result": match,
                     "resident_id": resident.id if resident is not None else None, "matched_at": utcnow()})
    db.session.execute(sa.insert(RecipientRow), rows)
    db.session.commit()
    return lst


def parse_bank_file(data: bytes, encoding: str = "gbk", sep: str = ","):
    text = data.decode(encoding)
    lines = text.split("\r\n")
    header = lines[0].split(sep)
    body = "".join(line + "\r\n" for line in lines[1:] if line)
    details = list(csv.reader(io.StringIO(body), delimiter=sep))
    ok = hashlib.sha256(body.encode(encoding)).hexdigest() == header[4]
    return header, details, ok


@dataclass
class PayWorld:
    county: dict
    pension: Project
    household: Project
    operator: object
    reviewer: object
    finance: object
    rcb: object
    abc: object
    agri_operator: object
    agri_reviewer: object
    people: dict = field(default_factory=dict)


@pytest.fixture
def pay(db, county, make_staff, finance):
    """A department paying 城乡居民基础养老金 (RCB) and a household subsidy (ABC, via 一本通 in parallel)."""
    from tests.factories import make_card, make_household, make_resident
    depts, banks = county["departments"], county["banks"]
    hrss, agri = depts["县人力资源社会保障局"], depts["县农业农村局"]
    pension = make_project(hrss, banks["RCB"], "城乡居民基础养老金", standard_fen=18300)
    household = make_project(agri, banks["ABC"], "耕地地力保护补贴", per_household=True, via_passbook=True)
    make_agreement(hrss, banks["RCB"], [pension.id])
    make_agreement(agri, banks["ABC"], [household.id])
    t, v = county["towns"], county["villages"]
    people = {}
    for i, name in enumerate(["王秀英", "李建国", "张桂兰", "刘志强"]):
        r = make_resident(t[i % 2], v[i % 2], name=name)
        make_card(r, banks["RCB"] if i != 3 else banks["ICBC"])
        people[name] = r
    lost = make_resident(t[0], v[0], name="孙玉凤")
    make_card(lost, banks["RCB"], status="lost")
    people["孙玉凤"] = lost
    # A 低保 resident without a usable card but with a legally appointed proxy.
    ward = make_resident(t[1], v[1], name="周明华", categories=("dibao",))
    make_card(ward, banks["RCB"], status="issued")
    guardian = make_resident(t[1], v[1], name="周海燕")
    make_card(guardian, banks["RCB"])
    from onecard.people.models import ProxyAppointment
    db.session.add(ProxyAppointment(resident_id=ward.id, proxy_resident_id=guardian.id, category="dibao",
                                    legal_basis="（2025）鲁0831民特12号", appointed_by="泗水县人民法院",
                                    valid_from=date(2025, 1, 1)))
    people["周明华"], people["周海燕"] = ward, guardian
    # Households: one head with an active card, one whose head has only a passbook.
    h1 = make_household(t[0], v[0])
    head1 = make_resident(t[0], v[0], name="孔德福", household=h1, head=True)
    make_card(head1, banks["ABC"])
    member1 = make_resident(t[0], v[0], name="孔春生", household=h1)
    h2 = make_household(t[1], v[1])
    head2 = make_resident(t[1], v[1], name="颜庆云", household=h2, head=True)
    make_card(head2, banks["ABC"], status="issued")
    from onecard.payments.models import PassbookAccount
    from tests.factories import new_account
    acct = new_account("622848")
    db.session.add(PassbookAccount(resident_id=head2.id, bank_id=banks["ABC"], account=acct,
                                   account_bidx=blind_index(acct, "account"), account_last4=acct[-4:]))
    db.session.commit()
    people.update({"孔德福": head1, "孔春生": member1, "颜庆云": head2})
    return PayWorld(
        county=county, pension=pension, household=household,
        operator=make_staff("dept_operator", "rs_jb", department_id=hrss),
        reviewer=make_staff("dept_reviewer", "rs_sh", department_id=hrss),
        finance=finance,
        rcb=make_staff("bank_operator", "bank_rcb", bank_id=banks["RCB"]),
        abc=make_staff("bank_operator", "bank_abc", bank_id=banks["ABC"]),
        agri_operator=make_staff("dept_operator", "ny_jb", department_id=agri),
        agri_reviewer=make_staff("dept_reviewer", "ny_sh", department_id=agri),
        people=people)


@pytest.fixture
def pension_list(pay):
    p = pay.people
    entries = [(p[n], 18300, "usable") for n in ["王秀英", "李建国", "张桂兰", "刘志强"]]
    entries += [(p["孙玉凤"], 18300, "lost_or_cancelled"), (p["周明华"], 18300, "not_activated"),
                (None, 18300, "not_in_registry")]
    return make_list(pay.pension, entries)
