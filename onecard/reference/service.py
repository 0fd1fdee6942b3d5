"""Reference data look-ups and the idempotent seeding of the county's fixed data."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.errors import Invalid
from onecard.extensions import db
from onecard.reference import data
from onecard.reference.models import Bank, Department, Town, Village


def seed() -> None:
    """Insert the towns, the six banks and the departments if missing (safe to run again)."""
    # A town is the same town when its 9-digit township code is (an install seeded before the codes had 12
    # digits, or one whose names the bureau corrected from the statistics table, is not seeded twice).
    have = {r[:9] for (r,) in db.session.execute(sa.select(Town.code))}
    names = {r for (r,) in db.session.execute(sa.select(Town.name))}
    for code, name in data.TOWNS:
        if code[:9] not in have and name not in names:
            db.session.add(Town(code=code, name=name))
    have = {r for (r,) in db.session.execute(sa.select(Bank.code))}
    for code, name, branch, aliases, bank_format in data.BANKS:
        if code not in have:
            db.session.add(Bank(code=code, name=name, branch_name=branch, aliases=aliases, bank_format=bank_format))
    have = {r for (r,) in db.session.execute(sa.select(Department.code))}
    for code, name, kind in data.DEPARTMENTS:
        if code not in have:
            db.session.add(Department(code=code, name=name, kind=kind))
    db.session.commit()


def bank_name_index() -> dict[str, int]:
    """Every way people write a cooperating bank's name -> bank id (for uploads)."""
    index: dict[str, int] = {}
    for bank in db.session.execute(sa.select(Bank)).scalars():
        for alias in [bank.name, bank.branch_name, bank.code, *bank.aliases.split(",")]:
            alias = alias.strip()
            if alias:
                index[alias] = bank.id
                index[alias.upper()] = bank.id
    return index


def resolve_bank(name: str, index: dict[str, int] | None = None, *, field: str = "bank") -> int:
    """A bank id from a name as written (工行, 中国工商银行, 工商银行泗水县支行...) or Invalid."""
    index = index if index is not None else bank_name_index()
    text = (name or "").strip().replace(" ", "")
    if text in index:
        return index[text]
    for alias, bank_id in index.items():  # a branch name such as 中国农业银行泗水支行
        if len(alias) >= 2 and text.startswith(alias):
            return bank_id
    raise Invalid("开户行不是合作银行（工商银行、建设银行、中国银行、农业银行、邮储银行、农商银行）",
                  code="bank_not_cooperating", field=field)


def town_index() -> dict[str, int]:
    return {t.name: t.id for t in db.session.execute(sa.select(Town)).scalars()}


def village_index() -> dict[tuple[int, str], int]:
    return {(v.town_id, v.name): v.id for v in db.session.execute(sa.select(Village)).scalars()}
