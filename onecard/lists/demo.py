"""Demo step: 民政局 uploads this month's 高龄津贴 list (attachment 3) and matches it, through the services.

So the demo county has a matched list whose follow-up list (待跟进名单) a village's staff can download.
"""
from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from onecard.extensions import db
from onecard.lists import matching, service
from onecard.lists.reader import COLUMNS
from onecard.people.models import Resident
from onecard.reference.models import Town, Village
from onecard.staff.models import StaffAccount
from onecard.staff.service import actor_for
from onecard.timeutil import local_today

DEMO_PROJECT = "高龄津贴"
DEMO_OPERATOR = "mz_jb"
MAX_ROWS = 3000


def run(ctx) -> None:
    project_id = ctx.project_ids.get(DEMO_PROJECT)
    operator_id = ctx.staff.get(DEMO_OPERATOR)
    if project_id is None or operator_id is None:
        return
    actor = actor_for(db.session.get(StaffAccount, operator_id), channel="cli")
    today = local_today()
    stmt = (sa.select(Resident.name, Resident.id_number, Resident.mobile, Town.name, Village.name)
            .join(Town, Town.id == Resident.town_id).outerjoin(Village, Village.id == Resident.village_id)
            .where(Resident.birth_year <= today.year - 80, Resident.mobile.is_not(None))
            .order_by(Resident.id).limit(MAX_ROWS))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header for _key, header, _required in COLUMNS])
    rows = 0
    for name, id_number, mobile, town, village in db.session.execute(stmt):
        writer.writerow([name, id_number, "汉族", mobile, town, village or "", "农商银行", "", "",
                         f"{today:%Y-%m}-20"])
        rows += 1
    if not rows:
        return
    recipient_list = service.upload(actor, project_id=project_id, period=f"{today:%Y-%m}",
                                    file_name=f"高龄津贴{today:%Y年%m月}发放名单.csv",
                                    stream=io.BytesIO(out.getvalue().encode("utf-8-sig")))
    matching.match_list(actor, recipient_list.id)
