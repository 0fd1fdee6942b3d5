"""Who is acting: the one value every service takes first.

A door (view, page, CLI, job) builds an Actor from its authentication and
passes it in; services never read request objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Actor:
    kind: str                      # "staff", "citizen", "system", "bank_api"
    id: int | None = None          # staff account id or resident id
    role: str | None = None        # staff role (see onecard.staff.models.Role)
    label: str = ""                # human-readable, for the audit trail
    department_id: int | None = None
    bank_id: int | None = None
    town_id: int | None = None
    village_id: int | None = None
    ip: str | None = None
    channel: str = "api"           # api, console, h5, miniprogram, cli, job, bank_file
    on_behalf_of: int | None = None  # resident id when village staff act for a resident
    extra: dict = field(default_factory=dict)

    def acting_for(self, resident_id: int) -> Actor:
        return replace(self, on_behalf_of=resident_id)


SYSTEM = Actor(kind="system", label="系统", channel="job")


def cli_actor(label: str = "命令行") -> Actor:
    return Actor(kind="system", label=label, channel="cli")
