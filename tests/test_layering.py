"""The shape of the code base (../shared/ARCHITECTURE.md): the domain core never imports a door or the doors'
web plumbing, and no door imports another door.

A document two doors show is declared once in its domain (onecard/<domain>/schemas.py); a door that borrowed
another door's code would break whenever that door changed. `onecard.create_app` composes the doors by name
(onecard.DOORS) and is the one place allowed to know them.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

import onecard

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOORS = ("staff_api", "console", "citizen_app", "notifications")


def _imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _offenders(package: str, forbidden: tuple[str, ...], skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(skip):
            continue
        bad = sorted(m for m in _imported_modules(path) if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            found[rel] = bad
    return found


def test_the_app_composes_exactly_the_doors_there_are():
    assert set(onecard.DOORS) == set(DOORS)


def test_the_domain_imports_no_door():
    assert _offenders("onecard", DOORS) == {}


def test_the_domain_never_imports_the_web_plumbing():
    assert _offenders("onecard", ("onecard.web",), skip=("onecard/web/", "onecard/__init__.py")) == {}


@pytest.mark.parametrize("door", DOORS)
def test_no_door_imports_another_door(door):
    assert _offenders(door, tuple(d for d in DOORS if d != door)) == {}


def test_the_rule_sees_every_form_of_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from citizen_app.api import ApplicationSchema\nimport console.pages\n"
                     "from onecard import web\n", encoding="utf-8")
    assert _imported_modules(probe) >= {"citizen_app.api", "console.pages", "onecard.web"}
