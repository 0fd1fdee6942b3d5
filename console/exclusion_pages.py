"""互斥补贴规则 (console): the bureau's administrator records and retires the groups of projects that exclude each
other; everyone with the read right sees them. The rules live in onecard.exclusions.service."""
from __future__ import annotations

import sqlalchemy as sa
from flask import render_template, request, url_for

from onecard.exclusions import service as exclusions
from onecard.exclusions.models import SCOPES
from onecard.extensions import db
from onecard.projects.models import Project
from onecard.staff import permissions

from . import bp
from .core import error_page, page
from .guard import guarded_post


@bp.get("/exclusion-rules")
@page("exclusion.read")
def exclusion_rules(actor):
    projects = db.session.execute(sa.select(Project.id, Project.name).where(Project.status == "coded")
                                  .order_by(Project.name)).all()
    return render_template("console/exclusion_rules.html", rules=exclusions.list_rules(actor), projects=projects,
                           scopes=SCOPES, can_manage=permissions.can(actor, "exclusion.manage"))


@bp.post("/exclusion-rules")
@page("exclusion.manage")
def exclusion_rule_create(actor):
    try:
        ids = [int(x) for x in request.form.getlist("project_ids")]
    except ValueError:
        return error_page(422, "填写的内容不正确：项目。请检查后重新提交。")
    return guarded_post(actor, lambda: exclusions.create_rule(
        actor, name=request.form.get("name", ""), scope=request.form.get("scope", "person"),
        source=request.form.get("source", ""), project_ids=ids),
        done="互斥规则已登记。", then=url_for("console.exclusion_rules"))


@bp.post("/exclusion-rules/<int:rule_id>/retire")
@page("exclusion.manage")
def exclusion_rule_retire(actor, rule_id):
    return guarded_post(actor, lambda: exclusions.retire_rule(actor, rule_id, request.form.get("reason", "")),
                        done="互斥规则已停用。", then=url_for("console.exclusion_rules"))
