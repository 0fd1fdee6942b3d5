"""The county's fixed reference data, from the pilot plan (泗水县, area code 370831)."""
from __future__ import annotations

COUNTY_AREA_CODE = "370831"

# 泗水县's 13 towns and street offices with their 12-digit 统计用区划代码 (the 9-digit township code + 000); the
# bureau corrects names and codes from the national statistics table (onecard.reference.places).
TOWNS = [
    ("370831001000", "济河街道"), ("370831002000", "泗河街道"), ("370831100000", "泉林镇"), ("370831101000", "泗张镇"),
    ("370831102000", "圣水峪镇"), ("370831103000", "金庄镇"), ("370831104000", "苗馆镇"), ("370831105000", "中册镇"),
    ("370831106000", "柘沟镇"), ("370831107000", "华村镇"), ("370831108000", "杨柳镇"), ("370831109000", "星村镇"),
    ("370831110000", "高峪镇"),
]

# The six cooperating banks of attachment 1, with the names departments write in spreadsheets, and the format
# of their payment and result files (a key of onecard.payments.bankformats.BANK_FORMATS).
BANKS = [
    ("ICBC", "工商银行", "工商银行泗水县支行", "工行,中国工商银行,工商银行", "generic"),
    ("CCB", "建设银行", "建设银行泗水县支行", "建行,中国建设银行,建设银行,建行银行", "generic"),
    ("BOC", "中国银行", "中国银行泗水县支行", "中行,中国银行", "generic"),
    ("ABC", "农业银行", "农业银行泗水县支行", "农行,中国农业银行,农业银行", "generic"),
    ("PSBC", "邮储银行", "邮储银行泗水县支行", "邮政储蓄银行,中国邮政储蓄银行,邮政银行,邮储", "generic"),
    ("RCB", "农商银行", "泗水县农商银行", "农村商业银行,泗水农商银行,泗水县农商银行,农商行,信用社,农村信用社", "rcb"),
]

# Business departments of step (一), plus the two coordinating bureaus.
DEPARTMENTS = [
    ("01", "县自然资源和规划局", "business"), ("02", "县教育体育局", "business"), ("03", "县民政局", "business"),
    ("04", "县财政局", "finance"), ("05", "县人力资源社会保障局", "hrss"), ("06", "县农业农村局", "business"),
    ("07", "县卫生健康局", "business"), ("08", "县退役军人局", "business"), ("09", "县医保局", "business"),
    ("10", "县总工会", "business"), ("11", "县残疾人联合会", "business"),
]
