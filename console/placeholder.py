"""The "建设中" page standing in for menu entries whose service is not merged yet."""
from __future__ import annotations

from flask import abort, render_template

from . import bp
from .core import page
from .menu import BY_KEY, visible


@bp.get("/soon/<key>")
@page()
def placeholder(actor, key):
    entry = BY_KEY.get(key)
    if entry is None or not visible(actor, entry):
        abort(404)
    return render_template("console/placeholder.html", entry=entry)
