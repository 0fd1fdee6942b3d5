"""The console menu: one table of entries, each guarded by a permission action of permissions.POLICY.

Who sees an entry is ``permissions.can(actor, entry.action)``: the rule lives in the
policy table only, so each role's menu follows from it. Entries whose service is
not merged yet point at the "建设中" placeholder and name the action the service
is expected to register; until that action exists, ``interim_roles`` says who sees
the placeholder. When the service arrives: set ``endpoint``, check the action name,
and delete ``interim_roles``.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import request, url_for

from onecard.actors import Actor
from onecard.staff import permissions

FINANCE_SIDE = ("admin", "finance", "auditor")
DEPARTMENT = ("dept_operator", "dept_reviewer")


@dataclass(frozen=True)
class MenuEntry:
    key: str                  # stable id (also the placeholder's URL part)
    label: str
    action: str | None        # permission action; None = every signed-in staff member
    endpoint: str | None = None   # None = the "建设中" placeholder page
    group: str = "业务"
    interim_roles: tuple[str, ...] = ()


MENU: list[MenuEntry] = [
    MenuEntry("home", "工作台首页", None, "console.home", "常用"),
    MenuEntry("guide", "使用指南", None, "console.guide", "常用"),
    MenuEntry("projects", "项目目录", "project.read", "console.projects_list", "项目与名单"),
    MenuEntry("upload", "名单上传", "list.upload", "console.upload", "项目与名单"),
    MenuEntry("matching", "比对结果", "list.read", "console.lists_index", "项目与名单"),
    MenuEntry("followup", "跟进名单", "followup.read", "console.followup", "项目与名单"),
    MenuEntry("exclusions", "互斥补贴规则", "exclusion.read", "console.exclusion_rules", "项目与名单"),
    MenuEntry("batches", "发放批次", "batch.read", "console.pay_batches", "资金发放"),
    MenuEntry("bank_files", "银行文件", "batch.export", "console.pay_bank_files", "资金发放"),
    MenuEntry("owed", "应发未发", "payment.owed.read", "console.owed_payments", "资金发放"),
    MenuEntry("reissue", "失败重发", "payment.reissue", "console.pay_reissue", "资金发放"),
    MenuEntry("ledger", "台账", "ledger.export", "console.pay_ledger", "资金发放"),
    MenuEntry("stats", "统计", "oversight.stats", "console.oversight_stats", "监督"),
    MenuEntry("progress", "试点进度", "oversight.progress", "console.oversight_progress", "监督"),
    MenuEntry("risk", "风险检查", "risk.read", "console.oversight_risk", "监督"),
    MenuEntry("disclosure", "公示", "disclosure.read", "console.oversight_disclosure", "监督"),
    MenuEntry("audit", "审计", "audit.read", "console.oversight_audit", "监督"),
    MenuEntry("audit_verify", "审计链校验", "audit.verify", "console.audit_verify", "监督"),
    MenuEntry("complaints", "投诉咨询", "complaint.read", "console.oversight_complaints", "居民服务"),
    MenuEntry("complaint_calendar", "办理时限与节假日", "holiday.manage", "console.complaint_calendar", "居民服务"),
    MenuEntry("card_applications", "制卡申请", "card_application.read", "console.oversight_card_applications",
              "居民服务"),
    MenuEntry("households", "家庭户与户主", "people.read", "console.people_households", "基础信息"),
    MenuEntry("groups", "特殊群体", "people.read", "console.people_groups", "基础信息"),
    MenuEntry("proxies", "代管代持", "people.read", "console.people_proxies", "基础信息"),
    MenuEntry("residents", "居民与死亡登记", "people.read", "console.people_residents", "基础信息"),
    MenuEntry("places", "镇街与村（社区）", "place.manage", "console.places", "系统"),
    # The village-assisted mode lives on the H5 pages (a phone or tablet beside the resident).
    MenuEntry("assist", "代办（手机/平板）", "resident.assist", "citizen_pages.assist_home", "居民服务"),
    MenuEntry("accounts", "账号管理", "staff.read", "console.accounts", "系统"),
    MenuEntry("reference", "基础数据", "registry.read", "console.reference", "系统"),
]

BY_KEY = {e.key: e for e in MENU}


def visible(actor: Actor, entry: MenuEntry) -> bool:
    if entry.action is None:
        return True
    if entry.action in permissions.POLICY:
        return permissions.can(actor, entry.action)
    return actor.role in entry.interim_roles


def url_of(entry: MenuEntry) -> str:
    if entry.endpoint:
        return url_for(entry.endpoint)
    return url_for("console.placeholder", key=entry.key)


def menu_for(actor: Actor) -> list[tuple[str, list[dict]]]:
    """The entries this actor sees, grouped, with the current one marked."""
    here = request.path
    groups: dict[str, list[dict]] = {}
    items = []
    for entry in MENU:
        if visible(actor, entry):
            url = url_of(entry)
            matches = here == url or (entry.key != "home" and here.startswith(url.rstrip("/") + "/"))
            item = {"key": entry.key, "label": entry.label, "url": url, "current": False}
            items.append((item, len(url) if matches else -1))
            groups.setdefault(entry.group, []).append(item)
    # Only the most specific entry is current (/console/audit/verify is 审计链校验, not 审计).
    best = max(items, key=lambda pair: pair[1], default=None)
    if best is not None and best[1] >= 0:
        best[0]["current"] = True
    return list(groups.items())
