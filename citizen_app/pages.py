"""Mobile H5 pages (/m/): the same flows as the mini-program, for any phone browser."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("citizen_pages", __name__, url_prefix="/m")


@bp.get("/")
def home():
    return render_template("m/home.html")
