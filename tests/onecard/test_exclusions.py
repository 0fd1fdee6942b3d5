"""Subsidies that exclude each other (互斥补贴), through the HTTP API: a person listed by 民政局 for 特困 and for 低保 in
one period is warned about at upload, held at batch creation for the department's decision, and flagged by the
risk check once paid by both."""
from __future__ import annotations

import io
import uuid

import sqlalchemy as sa

from onecard.audit import AuditEntry
from onecard.payments import bankformats
from onecard.payments.models import BatchLine
from tests.fixtures_lists import csv_bytes, upload
from tests.fixtures_payments import make_agreement, make_project
from tests.onecard.payments.test_flow import API, post, result_file, run_to_approved
from tests.onecard.payments.test_races import race
from tests.staff_api.test_lists import good_row

PERIOD = "2026-11"


def _setup(pay, make_staff):
    civil = pay.county["departments"]["县民政局"]
    rcb = pay.county["banks"]["RCB"]
    tekun = make_project(civil, rcb, "特困人员救助供养金")
    dibao = make_project(civil, rcb, "最低生活保障金")
    make_agreement(civil, rcb, [tekun.id, dibao.id])
    op = make_staff("dept_operator", "mz_jb", department_id=civil)
    rev = make_staff("dept_reviewer", "mz_sh", department_id=civil)
    return tekun, dibao, op, rev


def _list(client, op, project, people):
    rows = [good_row(p.name, p.id_number, amount="500.00") for p in people]
    r = upload(client, op, project.id, csv_bytes(rows), period=PERIOD, name=f"{project.name}.csv")
    assert r.status_code == 201, r.json
    assert client.post(f"{API}/lists/{r.json['id']}/match", headers=op.auth).status_code == 200
    return r.json


def _batch(client, op, project):
    r = post(client, "/batches", op, project_id=project.id, period=PERIOD)
    assert r.status_code == 201, r.json
    lines = {x["name"]: x for x in client.get(f"{API}/batches/{r.json['id']}/lines", headers=op.auth).json}
    return r.json, lines


def _decide(client, staff, line_id, decision="release", reason="经核实，本月由特困转为低保，特困已停发"):
    return post(client, f"/batch-lines/{line_id}/exclusion-decision", staff, decision=decision, reason=reason)


def _pay(client, pay, batch, op, rev):
    run_to_approved(client, pay, batch["id"], operator=op, reviewer=rev)
    data = post(client, f"/batches/{batch['id']}/bank-file", pay.rcb).data
    from tests.fixtures_payments import parse_bank_file
    _, details, _ = parse_bank_file(data, "gb18030", "|")
    r = client.post(f"{API}/batches/{batch['id']}/result-file",
                    headers={**pay.rcb.auth, "Idempotency-Key": uuid.uuid4().hex},
                    data={"file": (io.BytesIO(result_file(bankformats.RCB, batch["number"], details, {})), "r.txt")})
    assert r.status_code == 200, r.json


def test_a_person_listed_for_tekun_and_dibao_is_warned_held_decided_and_flagged(
        app, client, db, pay, make_staff, admin):
    tekun, dibao, op, rev = _setup(pay, make_staff)
    wang, li = pay.people["王秀英"], pay.people["李建国"]
    # The bureau's administrator records the rule with its source; nobody else may.
    rule = {"name": "特困供养与低保不得同时享受", "scope": "person", "source": "鲁民〔2021〕12号 第十条",
            "project_ids": [tekun.id, dibao.id]}
    assert client.post(f"{API}/exclusion-rules", headers=op.auth, json=rule).status_code == 403
    r = client.post(f"{API}/exclusion-rules", headers=admin.auth, json={**rule, "project_ids": [tekun.id]})
    assert r.status_code == 422
    r = client.post(f"{API}/exclusion-rules", headers=admin.auth, json={**rule, "source": ""})
    assert r.status_code == 422
    r = client.post(f"{API}/exclusion-rules", headers=admin.auth, json=rule)
    assert r.status_code == 201 and r.json["project_names"] == ["特困人员救助供养金", "最低生活保障金"]
    assert [x["id"] for x in client.get(f"{API}/exclusion-rules", headers=op.auth).json] == [r.json["id"]]

    # Upload: the 特困 list first (no warning), then the 低保 list warns about 王秀英 (only the project's name).
    first = _list(client, op, tekun, [wang, li])
    assert first["exclusion_warnings"] == []
    second = _list(client, op, dibao, [wang])
    [warning] = second["exclusion_warnings"]
    assert warning["other_project"] == "特困人员救助供养金" and warning["row"] == 2
    assert set(warning) == {"row", "name", "other_project", "message"} and wang.id_number not in str(warning)
    again = client.get(f"{API}/lists/{first['id']}/exclusion-warnings", headers=op.auth).json
    assert [w["other_project"] for w in again] == ["最低生活保障金"]

    # Batch creation holds her for the department's decision; the batch cannot be submitted meanwhile.
    batch, lines = _batch(client, op, tekun)
    assert lines["王秀英"]["status"] == "disputed" and "最低生活保障金" in lines["王秀英"]["route_reason"]
    assert lines["李建国"]["status"] == "pending" and batch["held_count"] == 1
    r = post(client, f"/batches/{batch['id']}/submit", op)
    assert r.status_code == 409 and r.json["error"]["code"] == "batch_has_disputed_lines"
    assert _decide(client, pay.operator, lines["王秀英"]["id"]).status_code == 404     # another department
    assert _decide(client, pay.rcb, lines["王秀英"]["id"]).status_code == 403
    r = _decide(client, op, lines["李建国"]["id"])
    assert r.status_code == 409 and r.json["error"]["code"] == "line_not_disputed"
    r = _decide(client, op, lines["王秀英"]["id"], reason="")
    assert r.status_code == 422
    r = _decide(client, op, lines["王秀英"]["id"])
    assert r.status_code == 200 and r.json["status"] == "pending"
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "exclusion.line_released")).scalar_one()
    assert entry.note.startswith("经核实") and entry.entity_id == str(lines["王秀英"]["id"])
    _pay(client, pay, batch, op, rev)

    # The 低保 batch: held again (she is paid by 特困 this period); two staff decide at once: one decision counts.
    batch2, lines2 = _batch(client, op, dibao)
    line_id = lines2["王秀英"]["id"]
    assert lines2["王秀英"]["status"] == "disputed"
    body = {"reason": "两项同时发放，经领导同意", "idempotency_key": uuid.uuid4().hex}
    results = race(app, [(f"/batch-lines/{line_id}/exclusion-decision", op.auth, {**body, "decision": "release"}),
                         (f"/batch-lines/{line_id}/exclusion-decision", rev.auth,
                          {**body, "decision": "release", "idempotency_key": uuid.uuid4().hex})])
    assert sorted(s for s, _ in results) == [200, 409], results
    assert db.session.get(BatchLine, line_id).status == "pending"
    _pay(client, pay, batch2, op, rev)

    # The risk check finds her paid by both projects in one period.
    assert client.post(f"{API}/oversight/risk-runs", headers=pay.finance.auth, json={}).status_code == 201
    found = client.get(f"{API}/oversight/risk-findings?check=excluded_subsidies", headers=pay.finance.auth).json
    assert found["total"] == 1
    finding = found["items"][0]
    assert finding["resident_id"] == wang.id and "特困人员救助供养金" in finding["summary"]
    assert "最低生活保障金" in finding["summary"] and PERIOD in finding["summary"]


def test_a_disputed_line_taken_out_leaves_the_batch_and_a_retired_rule_holds_nobody(
        client, db, pay, make_staff, admin):
    tekun, dibao, op, rev = _setup(pay, make_staff)
    wang = pay.people["王秀英"]
    rule = client.post(f"{API}/exclusion-rules", headers=admin.auth, json={
        "name": "特困与低保", "source": "鲁民〔2021〕12号", "project_ids": [tekun.id, dibao.id]}).json
    _list(client, op, tekun, [wang, pay.people["李建国"]])
    _list(client, op, dibao, [wang])
    batch, lines = _batch(client, op, tekun)
    r = _decide(client, op, lines["王秀英"]["id"], decision="cancel", reason="已享受低保，特困不再发放")
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert post(client, f"/batches/{batch['id']}/submit", op).json["submitted_count"] == 1
    r = client.post(f"{API}/exclusion-rules/{rule['id']}/retire", headers=admin.auth, json={"reason": "政策调整"})
    assert r.status_code == 200 and r.json["status"] == "retired"
    assert client.post(f"{API}/exclusion-rules/{rule['id']}/retire", headers=admin.auth,
                       json={"reason": "x"}).status_code == 409
    _, lines2 = _batch(client, op, dibao)
    assert lines2["王秀英"]["status"] == "pending"


def test_a_household_rule_holds_a_second_member_of_the_same_household(client, db, pay, make_staff, admin):
    tekun, dibao, op, rev = _setup(pay, make_staff)
    head, member = pay.people["孔德福"], pay.people["孔春生"]
    r = client.post(f"{API}/exclusion-rules", headers=admin.auth, json={
        "name": "一户只享受其一", "scope": "household", "source": "县政府〔2025〕3号", "project_ids": [tekun.id, dibao.id]})
    assert r.status_code == 201 and r.json["scope_label"] == "同一户"
    _list(client, op, tekun, [head, pay.people["王秀英"]])
    _list(client, op, dibao, [member])
    batch, lines = _batch(client, op, tekun)
    assert lines["孔德福"]["status"] == "disputed" and lines["王秀英"]["status"] == "pending"
