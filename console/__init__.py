"""The staff console (工作台): server-rendered pages under /console on top of the same services as the API.

How a page is added (the whole pattern):

1. a module here with views decorated ``@page("some.action")`` (signs in, checks the
   permission through ``permissions.require``, passes the Actor), each calling ONE
   service function and rendering a template that extends ``console/layout.html``;
2. its name in ``PAGE_MODULES`` below;
3. one row in ``menu.MENU`` naming the endpoint and the permission action.

Every state-changing button posts a form with ``{{ form_guard() }}`` and the view
answers with ``guarded_post(...)`` (CSRF checked for every POST; the one-time
form nonce makes a double click or a stale page act once).
"""
from __future__ import annotations

import importlib

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console")

# Page modules, imported for their routes. Append new ones here.
PAGE_MODULES = ("core", "guard", "auth_pages", "home", "accounts", "reference_pages", "audit_pages", "guide", "placeholder",
                "oversight_pages", "payments_pages", "lists_pages", "people_pages", "exclusion_pages",
                "alert_pages", "owed_pages")

for _name in PAGE_MODULES:
    importlib.import_module(f"{__name__}.{_name}")


def init_app(app) -> None:
    """Register the console's pages and its HTML error pages for every URL under /console/."""
    from console import core
    app.register_blueprint(bp)
    app.extensions.setdefault("onecard.error_pages", {})["/console/"] = core.http_error_page
