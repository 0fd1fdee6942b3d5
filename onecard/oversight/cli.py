"""Oversight commands: rebuild (and check) the statistics summaries."""
from __future__ import annotations

import json
import sys
import time

import click
from flask.cli import with_appcontext


@click.command("oversight-rebuild-summary")
@click.option("--check", is_flag=True, help="只核对：汇总表得出的统计与直接从台账、名单聚合的结果是否一致，不做重建")
@with_appcontext
def rebuild_summary_command(check):
    """从台账和名单重建统计汇总表（恢复数据后或核对不一致时使用）。"""
    from onecard.actors import SYSTEM
    from onecard.extensions import db
    from onecard.oversight import stats, summary

    if check:
        same = stats.compute(SYSTEM) == stats.compute(SYSTEM, source="direct")
        click.echo(json.dumps({"consistent": same}, ensure_ascii=False))
        if not same:
            sys.exit(1)
        return
    start = time.perf_counter()
    result = summary.rebuild()
    db.session.commit()
    click.echo(json.dumps({**result, "seconds": round(time.perf_counter() - start, 2)}, ensure_ascii=False))


COMMANDS = [rebuild_summary_command]
