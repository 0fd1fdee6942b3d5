"""The master-data kinds that come in as spreadsheets (基础信息导入): one ``ImportKind`` record each.

Every door reads this list: the staff API adds ``POST /<key>/import`` and ``GET /<key>/template`` for each
(``PLACES`` on the reference routes, ``PEOPLE`` on the people routes), the console the upload form and its
routes on the page that lists the kind, the CLI ``onecard import-<key>``. A new kind is one record here
(plus, in the console, the page that shows its form).
"""
from __future__ import annotations

from marshmallow import Schema, fields

from onecard.imports import ImportKind
from onecard.people import groups, households, proxies, residents
from onecard.reference import places


class PlacesImportSchema(Schema):
    towns = fields.Integer()
    villages = fields.Integer()
    skipped = fields.Integer(metadata={"description": "跳过的县级行"})


class HouseholdCountsSchema(Schema):
    households = fields.Integer()
    members = fields.Integer()


class GroupCountsSchema(Schema):
    recorded = fields.Integer()
    by_category = fields.Dict(keys=fields.String(), values=fields.Integer())


class ProxyCountsSchema(Schema):
    appointed = fields.Integer()


class DeathCountsSchema(Schema):
    recorded = fields.Integer()
    unchanged = fields.Integer(metadata={"description": "此前已按同一日期登记的行数"})


VILLAGES = ImportKind(
    key="villages", title="镇街和村（社区）（统计用区划代码表）", sheet=places.PLACES_SHEET, run=places.import_places,
    permission="place.manage", template_permission="place.manage", template_filename="统计用区划代码_模板.xlsx",
    counts=PlacesImportSchema,
    summary=lambda r: f"已导入镇街{r['towns']}个、村（社区）{r['villages']}个",
    hint="国家统计局“统计用区划代码和城乡划分代码”的列：统计用区划代码、城乡分类代码、名称。已有代码更名，新代码新增。")

HOUSEHOLDS = ImportKind(
    key="households", title="家庭户", sheet=households.HOUSEHOLDS_SHEET, run=households.import_households,
    permission="household.manage", template_permission="people.read", template_filename="家庭户成员_模板.xlsx",
    counts=HouseholdCountsSchema,
    summary=lambda r: f"已导入{r['households']}户、{r['members']}人",
    hint="每位成员一行，同一户号成一户；未登记的成员按所填镇街、村（社区）登记。")

GROUPS = ImportKind(
    key="groups", title="特殊群体", sheet=groups.GROUPS_SHEET, run=groups.import_groups,
    permission="group.manage", template_permission="people.read", template_filename="特殊群体认定_模板.xlsx",
    counts=GroupCountsSchema,
    summary=lambda r: f"已登记{r['recorded']}条认定",
    hint="认定部门的认定名单，每人一行；已登记的认定按新的文号和起止日期续期。", by_department=True)

PROXIES = ImportKind(
    key="proxies", title="代管代持", sheet=proxies.PROXIES_SHEET, run=proxies.import_appointments,
    permission="proxy.manage", template_permission="people.read", template_filename="代管代持_模板.xlsx",
    counts=ProxyCountsSchema,
    summary=lambda r: f"已登记{r['appointed']}项代管代持")

DEATHS = ImportKind(
    key="deaths", title="死亡名单", sheet=residents.DEATHS_SHEET, run=residents.import_deaths,
    permission="death.record", template_permission="death.record", template_filename="死亡登记_模板.xlsx",
    counts=DeathCountsSchema,
    summary=lambda r: f"已登记{r['recorded']}人死亡（{r['unchanged']}人此前已登记）",
    hint="民政部门或公安户籍的死亡名单；已按同一日期登记的人计入“此前已登记”，不算错误。")

PLACES = [VILLAGES]
PEOPLE = [HOUSEHOLDS, GROUPS, PROXIES, DEATHS]
KINDS = PLACES + PEOPLE
