"""Scheduled oversight work, for the notifications scheduler process to pick up.

``JOBS`` is a list of (function, APScheduler trigger kwargs). Each function runs inside an app context
when the scheduler provides one, and builds the app itself otherwise.
"""
from __future__ import annotations

from flask import has_app_context

from onecard.actors import SYSTEM


def scheduled_risk_run() -> int:
    """Nightly risk checks (风险核查) with the system actor; returns the run id."""
    from onecard.oversight import risks

    if has_app_context():
        return risks.run_all_checks(SYSTEM, trigger="schedule").id
    from onecard import create_app
    with create_app().app_context():
        return risks.run_all_checks(SYSTEM, trigger="schedule").id


def scheduled_summary_refresh() -> int:
    """Nightly: recompute the statistics summary of the lists changed since the last refresh (统计汇总)."""
    from onecard.extensions import db
    from onecard.oversight import summary

    def work() -> int:
        n = summary.refresh_lists()
        db.session.commit()
        return n

    if has_app_context():
        return work()
    from onecard import create_app
    with create_app().app_context():
        return work()


def _in_app_context(work):
    if has_app_context():
        return work()
    from onecard import create_app
    with create_app().app_context():
        return work()


def scheduled_complaint_escalation() -> int:
    """Every working morning: open complaints past their deadline go to 人社局 and finance (逾期提级)."""
    from onecard.complaints import cases
    return _in_app_context(cases.escalate_overdue)


def scheduled_owed_release() -> dict:
    """Nightly catch-all: owed payments whose reason went away without a card hook noticing are released."""
    from onecard.payments import owed
    return _in_app_context(owed.release_all)


# Every night at 02:30 Asia/Shanghai, after the banks' result files of the day are imported.
JOBS = [
    (scheduled_risk_run, {"trigger": "cron", "hour": 2, "minute": 30, "timezone": "Asia/Shanghai",
                          "id": "oversight.risk_checks", "replace_existing": True, "coalesce": True,
                          "max_instances": 1}),
    # Before the risk checks; until it runs, changed lists are aggregated directly by the report.
    (scheduled_summary_refresh, {"trigger": "cron", "hour": 2, "minute": 10, "timezone": "Asia/Shanghai",
                                 "id": "oversight.summary_refresh", "replace_existing": True, "coalesce": True,
                                 "max_instances": 1}),
    (scheduled_complaint_escalation, {"trigger": "cron", "hour": 8, "minute": 0, "timezone": "Asia/Shanghai",
                                      "id": "complaints.escalate_overdue", "replace_existing": True,
                                      "coalesce": True, "max_instances": 1}),
    (scheduled_owed_release, {"trigger": "cron", "hour": 1, "minute": 30, "timezone": "Asia/Shanghai",
                              "id": "payments.owed_release", "replace_existing": True, "coalesce": True,
                              "max_instances": 1}),
]
