"""Small key-value settings kept in the database (e.g. the synthetic-demo marker)."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db


class SiteSetting(db.Model):
    __tablename__ = "site_settings"
    key = sa.Column(sa.String(60), primary_key=True)
    value = sa.Column(sa.Text, nullable=False)


def get(key: str, default: str | None = None) -> str | None:
    row = db.session.get(SiteSetting, key)
    return row.value if row else default


def put(key: str, value: str) -> None:
    row = db.session.get(SiteSetting, key)
    if row is None:
        db.session.add(SiteSetting(key=key, value=value))
    else:
        row.value = value
