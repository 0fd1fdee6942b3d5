"""CLI doors: `onecard scheduler` (the notice scheduler process) and `onecard notices-drain --once`."""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("scheduler")
@click.option("--interval", type=float, default=None, help="两次运行之间的秒数（默认 5）")
@with_appcontext
def scheduler_command(interval):
    """运行到账通知调度进程：每隔几秒把新的到账事件生成通知并发送（Ctrl+C 停止）。"""
    from notifications import scheduler
    from onecard.serving.logs import install_json
    install_json()        # one JSON line per job run and per event, like the web processes
    app = current_app._get_current_object()
    click.echo(f"到账通知调度已启动（短信通道：{app.config.get('SMS_PROVIDER')}）。按 Ctrl+C 停止。")
    sched = scheduler.build(app, blocking=True, interval=interval, echo=click.echo)
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        click.echo("调度已停止。")


@click.command("notices-drain")
@click.option("--once", is_flag=True, default=True, help="生成并发送一次后退出（默认）")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=None)
@click.option("--lease-seconds", type=click.FloatRange(0.1, 3600), default=None)
@click.option("--no-enqueue", is_flag=True, help="只发送，不从到账事件生成新通知")
@with_appcontext
def notices_drain_command(once, batch_size, lease_seconds, no_enqueue):
    """把新的到账事件生成通知，并发送所有到期的通知，然后退出；输出一行 JSON 汇总。"""
    from notifications import jobs
    from onecard.notices import service
    enqueued = {} if no_enqueue else service.enqueue_arrivals()
    stats = jobs.drain_once(batch_size=batch_size, lease_seconds=lease_seconds)
    click.echo(json.dumps({"enqueued": enqueued, **stats.to_dict()}, ensure_ascii=False))


COMMANDS = [scheduler_command, notices_drain_command]
