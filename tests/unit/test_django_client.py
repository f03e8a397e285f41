"""The helper protocol is named once, in django_helper.py: the engine imports the names, never spells them again."""

import ast
import re
from pathlib import Path

from checkniner_backup import django_helper as protocol

ENGINE = Path(__file__).resolve().parents[2] / "module_utils" / "checkniner_backup"
PHASES = [
    protocol.BUSINESS_DONE, protocol.DONE, protocol.STOPPED, protocol.UNCHANGED, protocol.WOULD_LOAD,
    protocol.MISMATCH, protocol.LOADED, protocol.MIGRATED, protocol.MIGRATE_CHECK,
]  # fmt: skip


def _string_literals(path):
    return [node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, str)]  # fmt: skip


def test_every_environment_name_is_defined_once_in_the_helper():
    source = (ENGINE / "django_helper.py").read_text()
    for name in re.findall(r"CHECKNINER_HELPER_[A-Z_]+", source):
        assert source.count(f'"{name}"') == 1, f"{name} is spelled more than once in the helper"


def test_the_engine_spells_no_protocol_string_of_its_own():
    """A literal "CHECKNINER_HELPER_..." or a phase name outside django_helper.py would drift from the helper."""
    for path in ENGINE.rglob("*.py"):
        if path.name == "django_helper.py":
            continue
        literals = _string_literals(path)
        helper_env = [s for s in literals if s.startswith("CHECKNINER_HELPER_")]
        phases = [s for s in literals if s in PHASES and s not in ("done", "loaded", "unchanged")]
        assert not helper_env and not phases, f"{path.name} spells the helper protocol itself: {helper_env + phases}"


def test_the_helper_imports_nothing_of_the_engine():
    """It runs inside the application's virtualenv, which does not have checkniner_backup."""
    tree = ast.parse((ENGINE / "django_helper.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any("checkniner_backup" in name for name in imported)
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))
