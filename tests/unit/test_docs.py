"""The README stays true: every variable, every role variable and every playbook is documented there."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
ENGINE = ROOT / "module_utils" / "checkniner_backup"


def engine_variables():
    names = set()
    for path in ENGINE.rglob("*.py"):
        text = re.sub(r'"CHECKNINER_HELPER_[A-Z_]+"', "", path.read_text())  # the engine talking to its helper
        names |= set(re.findall(r'"((?:CHECKNINER|S3|BACKUPS)_[A-Z0-9_]+)"', text))
        names |= {f"S3_{suffix}" for suffix in re.findall(r'var\("([A-Z_]+)"\)', text)}  # per-destination names
    return names


def test_every_environment_variable_is_documented():
    names = engine_variables()
    assert {"S3_BUCKET_NAME", "S3_SECRET_KEY", "CHECKNINER_BACKUP_DIR", "CHECKNINER_KEEP_DAILY"} <= names
    missing = sorted(n for n in names if f"`{n}`" not in README)
    assert not missing, f"README does not document {missing}"


def test_role_variables_table_is_generated_from_argument_specs():
    spec = importlib.util.spec_from_file_location("rvt", ROOT / "scripts" / "role-variables-table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render(README) == README, "run scripts/role-variables-table.py --write"
    for name in re.findall(r"^      (checkniner_backup_\w+):", module.SPECS.read_text(), re.M):
        assert f"`{name}`" in README


def test_every_playbook_and_make_target_is_documented():
    for playbook in (ROOT / "playbooks").glob("*.yml"):
        assert f"playbooks/{playbook.name}" in README, playbook.name
    for target in ("make demo", "make test", "make check", "make bench", "make molecule"):
        assert target in README
