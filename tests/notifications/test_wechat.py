"""WeChat subscribe messages beside the SMS, through wechatpy against the fake WeChat server."""
from __future__ import annotations

import sqlalchemy as sa

from notifications.jobs import drain_once
from onecard.actors import Actor
from onecard.notices import service
from onecard.notices.models import Notice, WechatSubscription
from tests.factories import make_resident


def _resident_with_openid(db, county, openid):
    r = make_resident(county["towns"][0])
    r.wechat_openid = openid
    db.session.commit()
    return r


def _by_channel(db):
    db.session.expire_all()
    return {n.channel: n for n in db.session.execute(sa.select(Notice)).scalars()}


def test_granted_resident_gets_a_subscribe_message_and_the_sms(wechat_app, db, county, arrive, fake_wechat,
                                                               fake_twilio):
    r = _resident_with_openid(db, county, "o_user_1")
    service.grant_wechat_subscription(Actor(kind="citizen", id=r.id), r.id, "TPL_ARRIVAL")
    fake_wechat.grant_subscription("o_user_1", "TPL_ARRIVAL")
    arrive(r)
    assert service.enqueue_arrivals() == {"sms": 1, "sms_skipped": 0, "wechat": 1, "payee": 0, "payee_skipped": 0, "sms_ret": 0, "sms_ret_skipped": 0}
    drain_once()
    notices = _by_channel(db)
    assert notices["sms"].state == "sent" and notices["wechat"].state == "sent"
    [msg] = fake_wechat.subscribe_messages
    assert msg["touser"] == "o_user_1" and msg["template_id"] == "TPL_ARRIVAL"
    assert msg["data"]["amount2"]["value"] == "¥183.00"
    assert msg["data"]["thing1"]["value"] == "城乡居民基础养老金"
    assert len(fake_twilio.messages) == 1                      # SMS stays the channel of record
    sub = db.session.execute(sa.select(WechatSubscription)).scalar_one()
    assert sub.remaining == 0
    # the token came from stable_token and was kept in our database for the other processes
    assert fake_wechat.current_stable_token is not None


def test_refused_subscription_43101_is_failed_not_retried_and_uses_up_the_grant(wechat_app, db, county, arrive,
                                                                               fake_wechat):
    r = _resident_with_openid(db, county, "o_user_2")
    service.grant_wechat_subscription(Actor(kind="citizen", id=r.id), r.id, "TPL_ARRIVAL", times=3)
    fake_wechat.refuse_openid("o_user_2")
    arrive(r)
    service.enqueue_arrivals()
    drain_once()
    n = _by_channel(db)["wechat"]
    assert (n.state, n.error_code) == ("failed", "43101")
    sub = db.session.execute(sa.select(WechatSubscription)).scalar_one()
    assert sub.remaining == 0 and sub.refused_at is not None
    before = len(fake_wechat.requests)
    drain_once()
    assert len([q for q in fake_wechat.requests[before:] if "subscribe" in q.path]) == 0
    arrive(r, period="2026-12")
    assert service.enqueue_arrivals()["wechat"] == 0           # no grant left, no new WeChat notice


def test_resident_without_grant_gets_only_the_sms(wechat_app, db, county, arrive):
    r = _resident_with_openid(db, county, "o_user_3")
    arrive(r)
    assert service.enqueue_arrivals() == {"sms": 1, "sms_skipped": 0, "wechat": 0, "payee": 0, "payee_skipped": 0, "sms_ret": 0, "sms_ret_skipped": 0}


def test_expired_shared_token_is_refreshed_through_stable_token(wechat_app, db, county, arrive, fake_wechat):
    r = _resident_with_openid(db, county, "o_user_4")
    service.grant_wechat_subscription(Actor(kind="citizen", id=r.id), r.id, "TPL_ARRIVAL", times=2)
    fake_wechat.grant_subscription("o_user_4", "TPL_ARRIVAL", times=2)
    arrive(r)
    service.enqueue_arrivals()
    drain_once()
    fake_wechat.expire_tokens()
    arrive(r, period="2026-12")
    service.enqueue_arrivals()
    drain_once()
    db.session.expire_all()
    states = db.session.execute(sa.select(Notice.state).where(Notice.channel == "wechat")).scalars().all()
    assert states == ["sent", "sent"]
    assert len(fake_wechat.subscribe_messages) == 2
