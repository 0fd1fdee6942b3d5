"""The staff API, the console and the domain core never import the citizen door (citizen_app).

A document two doors show is declared once in its domain (onecard/<domain>/schemas.py); a door that
borrowed another door's schemas would break whenever that door changed its own.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["staff_api", "console", "onecard"])
def test_package_does_not_import_the_citizen_door(package):
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path)
                                                     if m == "citizen_app" or m.startswith("citizen_app."))
                 for path in sorted((ROOT / package).rglob("*.py"))}
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_the_rule_sees_an_import_of_the_citizen_door(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from citizen_app.api import ApplicationSchema\nimport citizen_app.pages\n", encoding="utf-8")
    assert _imported_modules(probe) >= {"citizen_app.api", "citizen_app.pages"}
