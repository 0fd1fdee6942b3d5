"""The payee's notice of a ward's payment: a 到户 payment into the proxy's account is the household's money."""
from __future__ import annotations

from datetime import datetime

from onecard.notices.texts import render


def _payee_text(*, per_household: bool) -> str:
    return render({}, "【泗水县人社局】", project_code="P0601", project_name="耕地地力保护补贴", period="2026-11",
                  amount_fen=26000, last4="0026", paid_at=datetime(2026, 11, 20, 2, 0), route="proxy",
                  payee_name="李秀英", beneficiary_name="王老五", per_household=per_household, self_paid=False,
                  to_payee=True)


def test_the_proxy_is_told_a_wards_household_money_belongs_to_the_household_not_to_the_ward_alone():
    text = _payee_text(per_household=True)
    assert text == ("【泗水县人社局】您代管的王老五家的2026年11月耕地地力保护补贴260.00元（到户资金，归全户所有）"
                    "已于2026年11月20日发放至您的账户（尾号0026），请依法代为管理，用于全户。")
    assert "专款用于本人" not in text


def test_the_proxy_is_told_a_wards_own_money_is_for_the_ward():
    text = _payee_text(per_household=False)
    assert "您代管的王老五的2026年11月耕地地力保护补贴260.00元已于2026年11月20日发放至您的账户（尾号0026）" in text
    assert text.endswith("专款用于本人。") and "到户资金" not in text
