"""The audit chain check (审计链校验): recompute every hash and report any change, gap or cut."""
from __future__ import annotations

from flask import render_template, request

from onecard import audit

from . import bp
from .core import page


@bp.get("/audit/verify")
@page("audit.verify")
def audit_verify(actor):
    # A GET form with run=1: reading the chain changes nothing, and the check can take a while on a long chain.
    report = audit.verify_chain() if request.args.get("run") == "1" else None
    return render_template("console/audit_verify.html", report=report)
