"""Demo step of the reference data: two collection branches (网点) for each cooperating bank (synthetic)."""
from __future__ import annotations

import sqlalchemy as sa

from onecard import audit
from onecard.actors import cli_actor
from onecard.extensions import db
from onecard.reference.models import Bank, BankBranch, Town


def run(ctx) -> None:
    towns = db.session.execute(sa.select(Town.name).order_by(Town.code).limit(2)).scalars().all()
    actor = cli_actor("演示数据生成")
    for bank in db.session.execute(sa.select(Bank).order_by(Bank.id)).scalars().all():
        names = [f"{bank.branch_name}营业部"] + [f"{bank.name}{t}分理处" for t in towns[:1]]
        for name in names:
            branch = BankBranch(bank_id=bank.id, name=name, address=f"泗水县{name}（演示地址）", active=True)
            db.session.add(branch)
            db.session.flush()
            audit.record("branch.added", actor=actor, entity_type="bank_branch", entity_id=branch.id,
                         after={"bank_id": bank.id, "name": name})
    db.session.commit()
