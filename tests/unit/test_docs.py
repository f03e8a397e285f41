"""The README stays true: every variable, every role variable and every playbook is documented there."""

import importlib.util
import re
from pathlib import Path

from checkniner_backup import options

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


def documented_variables():
    """The first column of README's configuration table: the variables it documents."""
    section = README.split("### Configuration (environment)", 1)[1].split("\n## ", 1)[0]
    cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in cells for name in re.findall(r"`([A-Z][A-Z0-9_<>]*)`", cell)}


def test_every_variable_of_the_option_table_is_documented():
    missing = sorted(row.name for row in options.OPTIONS if f"`{row.name}`" not in README)
    for prefix, suffixes in options.DESTINATION_FAMILIES.items():
        # a family row is documented by an example destination (S3_OFFSITE_REGION) or the pattern (S3_<NAME>_REGION)
        missing += [f"{prefix}_<NAME>_{s.suffix}" for s in suffixes
                    if not re.search(rf"`{prefix}_[A-Z<>]+_{s.suffix}`", README)]  # fmt: skip
    assert not missing, f"README does not document {missing}"


def test_every_documented_variable_is_in_the_option_table():
    handed_on = set(options.RUNTIME_VARS + options.LIBPQ_VARS + options.GPG_VARS)  # read by gpg, libpq: passed on
    documented = documented_variables()
    assert {"DATABASE_URL", "S3_SECRET_KEY", "CHECKNINER_KEEP_DAILY", "GNUPGHOME"} <= documented
    # a family's pattern (DIR_<NAME>_PATH) stands for any destination's name
    unknown = sorted(
        name for name in documented if options.lookup(name.replace("<NAME>", "NAME")) is None and name not in handed_on
    )
    assert not unknown, f"README documents {unknown}, which the option table (options.py) does not hold"


def test_every_variable_the_engine_spells_is_in_the_option_table():
    names = engine_variables()
    assert {"S3_BUCKET_NAME", "CHECKNINER_BACKUP_DIR", "CHECKNINER_RESTORE_TARGET_DATABASE_URL"} <= names
    assert not sorted(n for n in names if options.lookup(n) is None)


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
