"""The card status lifecycle: the only table of allowed card moves.

未申领 -> 已申领/制卡中 -> 待领取 -> 已发放未激活 -> 正常 <-> 挂失 -> 注销,
with 补换卡 as a new card that replaces a lost (or damaged) one.
"""
from __future__ import annotations

from onecard.lifecycle import StateMachine

CARD_STATES = ["not_applied", "applied", "ready", "issued", "active", "lost", "cancelled"]

CARD_LABELS = {
    "not_applied": "未申领",
    "applied": "已申领（制卡中）",
    "ready": "待领取",
    "issued": "已发放未激活",
    "active": "正常",
    "lost": "挂失",
    "cancelled": "注销",
}

# What the resident should do next, in plain words, for each status.
NEXT_STEP = {
    "not_applied": "您还没有社保卡。可在本页申领，或到合作银行网点、村（社区）协办员处办理。",
    "applied": "社保卡正在制作中，制作完成后会短信通知您领取。",
    "ready": "社保卡已制作完成，请带身份证到申领时选择的银行网点领取。",
    "issued": "社保卡已发放但金融功能未激活，补贴无法到账。请在本页激活，或到银行网点激活。",
    "active": "社保卡状态正常，补贴将发放到这张卡的金融账户。",
    "lost": "社保卡已挂失。找到卡可到银行解除挂失；找不到请申请补卡。",
    "cancelled": "社保卡已注销，如需用卡请重新申领。",
}

CARD_MACHINE = StateMachine(
    name="card",
    state_attr="status",
    transitions={
        "not_applied": frozenset({"applied"}),
        "applied": frozenset({"ready", "cancelled"}),
        "ready": frozenset({"issued", "cancelled"}),
        "issued": frozenset({"active", "lost", "cancelled"}),
        "active": frozenset({"lost", "cancelled"}),
        "lost": frozenset({"active", "cancelled"}),
        "cancelled": frozenset(),
    },
    labels=CARD_LABELS,
    timestamps={"applied": "applied_at", "ready": "ready_at", "issued": "issued_at", "active": "activated_at",
                "lost": "lost_at", "cancelled": "cancelled_at"},
    changed_at_attr="status_changed_at",
)

# A card in this status can receive money.
PAYABLE_STATES = frozenset({"active"})

APPLICATION_LABELS = {
    "submitted": "已提交", "accepted": "已受理", "in_production": "制卡中", "ready": "待领取",
    "posted": "已邮寄", "collected": "已领取", "rejected": "未通过", "withdrawn": "已撤回",
}

# While a card is being made (card status "applied"), what the resident reads follows its application's real
# step, so the card never says 制卡中 while the application still says 已提交.
APPLIED_CARD_WORDS = {
    "submitted": ("申领已提交", "您的申领已提交，等待银行受理；受理和开始制卡时都会短信通知您。"),
    "accepted": ("银行已受理", "银行已受理您的申领，即将开始制卡，做好后短信通知您领取。"),
    "in_production": ("制卡中", "社保卡正在制作中，制作完成后会短信通知您领取。"),
}

APPLICATION_MACHINE = StateMachine(
    name="card_application",
    state_attr="status",
    transitions={
        "submitted": frozenset({"accepted", "rejected", "withdrawn"}),
        "accepted": frozenset({"in_production", "rejected"}),
        "in_production": frozenset({"ready", "posted"}),
        "ready": frozenset({"collected"}),
        "posted": frozenset({"collected"}),
        "collected": frozenset(),
        "rejected": frozenset(),
        "withdrawn": frozenset(),
    },
    labels=APPLICATION_LABELS,
    changed_at_attr="status_changed_at",
)
