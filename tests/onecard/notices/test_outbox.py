"""The outbox: one notice per arrival event, text from templates, skips, opt-out."""
from __future__ import annotations

import sqlalchemy as sa

from notifications.jobs import drain_once
from onecard.actors import SYSTEM, Actor
from onecard.audit import AuditEntry
from onecard.errors import Forbidden, Invalid
from onecard.notices import service, texts
from onecard.notices.models import Notice
from onecard.notices.senders import ConsoleSender
from tests.factories import make_resident

EXAMPLE = "【泗水县人社局】您的2026年11月城乡居民基础养老金183.00元已于2026年11月05日发放至您本人的社保卡（尾号1234），请注意查收。"


def _notices(db, channel="sms"):
    return db.session.execute(sa.select(Notice).where(Notice.channel == channel).order_by(Notice.id)).scalars().all()


def test_arrival_event_becomes_one_sms_notice_with_the_pension_text(db, arrive):
    arrive()
    counts = service.enqueue_arrivals()
    assert counts == {"sms": 1, "sms_skipped": 0, "wechat": 0, "payee": 0, "payee_skipped": 0, "sms_ret": 0, "sms_ret_skipped": 0}
    [n] = _notices(db)
    assert n.body == EXAMPLE
    assert n.state == "pending"
    assert n.recipient_masked.startswith("*******") and len(n.recipient_masked) == 11


def test_replayed_enqueue_adds_nothing(db, arrive):
    for _ in range(3):
        arrive()
    service.enqueue_arrivals()
    assert service.enqueue_arrivals() == {"sms": 0, "sms_skipped": 0, "wechat": 0, "payee": 0, "payee_skipped": 0, "sms_ret": 0, "sms_ret_skipped": 0}
    assert len(_notices(db)) == 3


def test_period_is_written_in_chinese():
    assert texts.period_cn("2026-11") == "2026年11月"
    assert texts.period_cn("2026-01") == "2026年1月"
    assert texts.period_cn("2026") == "2026年度"
    assert texts.period_cn("2026-Q1") == "2026年第一季度"
    assert texts.period_cn("2026-H2") == "2026年下半年"


def test_project_template_overrides_the_default_and_bad_templates_are_refused(db, arrive, admin, pension):
    service.set_template(admin.actor, "P0501", "{project}{period}发放{amount}元，尾号{last4}。")
    arrive(amount_fen=98000, period="2026-Q1", last4="9876")
    service.enqueue_arrivals()
    [n] = _notices(db)
    assert n.body == "【泗水县人社局】城乡居民基础养老金2026年第一季度发放980.00元，尾号9876。"
    try:
        service.set_template(admin.actor, None, "您的身份证号{id_number}")
        raise AssertionError("unknown placeholder accepted")
    except Invalid as exc:
        assert exc.code == "notice_template_invalid"


def test_opted_out_and_mobile_less_residents_get_a_skipped_notice_with_reason(db, arrive, county):
    quiet = make_resident(county["towns"][0])
    quiet.sms_opt_out = True
    db.session.commit()
    arrive(quiet)
    arrive(mobile=None)
    assert service.enqueue_arrivals()["sms_skipped"] == 2
    assert sorted(n.skip_reason for n in _notices(db)) == ["no_mobile", "opt_out"]
    assert drain_once(sender=ConsoleSender()).claimed == 0


def test_resident_switches_sms_off_skips_unsent_notices_and_is_audited(db, arrive, county, capsys):
    r = make_resident(county["towns"][0])
    arrive(r)
    service.enqueue_arrivals()
    me = Actor(kind="citizen", id=r.id, label="居民")
    service.set_sms_opt_out(me, r.id, True)
    [n] = _notices(db)
    assert (n.state, n.skip_reason) == ("skipped", "opt_out")
    assert db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "resident.sms_opt_out")).scalar()
    with __import__("pytest").raises(Forbidden):
        service.set_sms_opt_out(Actor(kind="citizen", id=r.id + 999), r.id, False)
    service.set_sms_opt_out(me, r.id, False)
    arrive(r, period="2026-12")
    service.enqueue_arrivals()
    drain_once(sender=ConsoleSender())
    out = capsys.readouterr().out
    assert "2026年12月城乡" in out and "2026年11月城乡" not in out
    assert r.mobile not in out   # the console shows a masked number


def test_system_actor_may_set_opt_out(db, county):
    r = make_resident(county["towns"][0])
    assert service.set_sms_opt_out(SYSTEM, r.id, True).sms_opt_out is True
