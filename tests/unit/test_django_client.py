"""The engine's side of the helper: the protocol is named once, in django_helper/protocol.py (the engine imports the
names, never spells them again), and the helper reaches the application's interpreter as one zipapp built from the
package's files, from the source tree, a wheel or Ansible's module payload alike."""

import ast
import hashlib
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from checkniner_backup import django_client
from checkniner_backup.django_helper import protocol

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "module_utils" / "checkniner_backup"
HELPER = ENGINE / "django_helper"
PHASES = [
    protocol.BUSINESS_DONE, protocol.DONE, protocol.STOPPED, protocol.UNCHANGED, protocol.WOULD_LOAD,
    protocol.MISMATCH, protocol.LOADED, protocol.MIGRATED, protocol.MIGRATE_CHECK,
]  # fmt: skip


def _string_literals(path):
    return [node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, str)]  # fmt: skip


def test_every_environment_name_is_defined_once_in_the_protocol():
    source = (HELPER / "protocol.py").read_text()
    names = re.findall(r"CHECKNINER_HELPER_[A-Z_]+", source)
    assert names
    for name in names:
        assert source.count(f'"{name}"') == 1, f"{name} is spelled more than once in the protocol"


def test_nothing_but_the_protocol_spells_a_protocol_string():
    """A literal "CHECKNINER_HELPER_..." or a phase name outside protocol.py would drift from the helper."""
    for path in ENGINE.rglob("*.py"):
        if path == HELPER / "protocol.py":
            continue
        literals = _string_literals(path)
        helper_env = [s for s in literals if s.startswith("CHECKNINER_HELPER_")]
        phases = [s for s in literals if s in PHASES and s not in ("done", "loaded", "unchanged")]
        assert not helper_env and not phases, f"{path.name} spells the helper protocol itself: {helper_env + phases}"


def test_the_zipapp_holds_every_file_of_the_package_and_no_other(tmp_path):
    assert sorted(django_client.HELPER_MODULES) == sorted(p.stem for p in HELPER.glob("*.py"))
    with zipfile.ZipFile(django_client.helper_script(str(tmp_path))) as zf:
        names = zf.namelist()
        for module in django_client.HELPER_MODULES:
            member = f"{django_client.ZIPAPP_PACKAGE}/{module}.py"
            assert zf.read(member) == (HELPER / f"{module}.py").read_bytes()
    assert names == sorted(names) and "__main__.py" in names


def test_the_zipapp_is_the_same_bytes_in_every_process(tmp_path):
    """Built deterministically (sorted members, fixed times and modes): two processes write identical files."""
    code = "import sys; from checkniner_backup import django_client as c; print(c.helper_script(sys.argv[1]))"
    digests = set()
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        path = subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
        digests.add(hashlib.sha256(Path(path).read_bytes()).hexdigest())
        with zipfile.ZipFile(path) as zf:
            assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert len(digests) == 1


def test_the_zipapp_is_built_once_a_process(tmp_path, monkeypatch):
    reads = []
    real = django_client._helper_source
    monkeypatch.setattr(django_client, "_ZIPAPP", [])
    monkeypatch.setattr(django_client, "_helper_source", lambda m: reads.append(m) or real(m))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = django_client.helper_script(str(tmp_path / "a")), django_client.helper_script(str(tmp_path / "b"))
    assert Path(first).read_bytes() == Path(second).read_bytes()
    assert sorted(reads) == sorted(django_client.HELPER_MODULES)  # each file read once, for both work directories


def _run(pyz, *argv, cwd):
    """The zipapp in an interpreter without site-packages: no checkniner_backup, no Django."""
    done = subprocess.run([sys.executable, "-I", "-S", pyz, *argv], capture_output=True, text=True, cwd=cwd)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_the_zipapp_runs_without_the_engine_installed(tmp_path):
    pyz = django_client.helper_script(str(tmp_path))
    code, doc = _run(pyz, cwd=tmp_path)
    assert code == 2 and doc[protocol.Key.ERROR].startswith("usage:")
    # it gets as far as Django itself, and says so as the user's configuration (the engine raises ConfigError)
    code, doc = _run(pyz, protocol.MIGRATE, cwd=tmp_path)
    assert code == 1 and doc[protocol.Key.CONFIG] is True
    assert "Django is not importable" in doc[protocol.Key.ERROR]


def test_the_zipapp_is_built_from_a_zipped_engine_as_ansible_ships_it(tmp_path):
    """Inside an Ansible module's payload the engine is imported from a zip (AnsiballZ): the helper's files are read
    through the package's loader there, and the zipapp built from them runs."""
    payload = tmp_path / "payload.zip"
    with zipfile.ZipFile(payload, "w") as zf:
        for path in ENGINE.rglob("*.py"):
            zf.write(path, str(path.relative_to(ENGINE.parent)))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from checkniner_backup import django_client as c; "
        "assert c.__file__.startswith(sys.argv[1]), c.__file__; print(c.helper_script(sys.argv[2]))"
    )
    built = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(payload), str(tmp_path)], capture_output=True,
                           text=True, check=True).stdout.strip()  # fmt: skip
    assert Path(built).read_bytes() == django_client.zipapp_bytes()
    assert _run(built, cwd=tmp_path)[0] == 2


def _ansible_shipped(module):
    """Run in its own interpreter: importing Ansible's controller side changes how modules report warnings, which
    the module tests of this process check."""
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "support" / "ansible_payload.py"), module],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return {Path(p) for p in json.loads(done.stdout)}


@pytest.mark.parametrize("module", ["checkniner_snapshot", "checkniner_restore"])
def test_ansible_ships_every_file_of_the_helper_with_a_module(module):
    shipped = _ansible_shipped(module)
    helper = {p.relative_to(ROOT / "module_utils") for p in HELPER.glob("*.py")}
    assert Path("checkniner_backup/django_client.py") in shipped
    assert helper <= shipped, f"missing from {module}'s payload: {sorted(map(str, helper - shipped))}"


def test_the_wheel_holds_the_helper_package():
    """setuptools installs the packages pyproject.toml lists and no other: the helper's files must be in a wheel for
    the zipapp to be built from an installed engine (pip install .)."""
    tomllib = pytest.importorskip("tomllib")
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {".".join(p.parent.relative_to(ROOT / "module_utils").parts) for p in ENGINE.rglob("__init__.py")}
    assert "checkniner_backup.django_helper" in packages
    assert packages <= listed, f"pyproject.toml's packages lack {sorted(packages - listed)}"
