"""The application's interpreter the tests run the sample project with: the dev venv's own (Django 5.2), or a cached
virtualenv with Django 3.2 LTS, the version the original checkniner application pins.

The integration tests run twice in `make integration`: once as they are, once with ``--app-django=3.2`` over the
tests marked ``app_django32`` (run, restore in both modes, the drill, the field zoo). In the second run manage.py
(migrate, seed, loaddata) and the engine's Django helper (CHECKNINER_DJANGO_PYTHON) both use the 3.2 interpreter.

    python tests/support/app_django.py 3.2   # build it now (`make app-django32`); prints its interpreter

The 3.2 virtualenv lives in .tmp/app-django32-<digest>, the digest of requirements-django32.txt and of the base
Python's version: a change to either builds a new one, and the old one is removed.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent
REPO = SUPPORT.parent.parent
CACHE = REPO / ".tmp"
REQUIREMENTS = {"3.2": SUPPORT / "requirements-django32.txt"}
VERSIONS = ("5.2", *REQUIREMENTS)  # 5.2: the interpreter running the tests (requirements-dev.txt)

_selected = ["5.2"]


class BuildError(RuntimeError):
    pass


def select(version: str) -> None:
    """The Django every later call of python() names (conftest's --app-django)."""
    if version not in VERSIONS:
        raise ValueError(f"unknown application Django {version!r}: choose one of {', '.join(VERSIONS)}")
    _selected[0] = version


def selected() -> str:
    return _selected[0]


def python() -> str:
    """The application's interpreter of this test run: for manage.py and for CHECKNINER_DJANGO_PYTHON."""
    return sys.executable if selected() == "5.2" else ensure(selected())


def venv_dir(version: str) -> Path:
    digest = hashlib.sha256(REQUIREMENTS[version].read_bytes())
    digest.update(sys.version.encode())  # a venv links to its base interpreter: another Python, another venv
    return CACHE / f"app-django{version.replace('.', '')}-{digest.hexdigest()[:12]}"


def ensure(version: str) -> str:
    """The version's virtualenv, built once (under a lock: pytest sessions may start side by side)."""
    target = venv_dir(version)
    exe = target / "bin" / "python"
    if (target / ".complete").exists():
        return str(exe)
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{target.name.rsplit('-', 1)[0]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".complete").exists():
            _build(version, target)
    return str(exe)


def _build(version: str, target: Path) -> None:
    # a build interrupted half-way leaves no .complete marker: start again from nothing
    shutil.rmtree(target, ignore_errors=True)
    for stale in CACHE.glob(f"{target.name.rsplit('-', 1)[0]}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)  # not the dev venv's packages, only its Python
    steps = [
        [base, "-m", "venv", str(target)],
        [str(target / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS[version])],
    ]
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise BuildError(f"building the Django {version} interpreter failed: {' '.join(step)}\n{proc.stderr}")
    (target / ".complete").write_text(f"{version}\n")


def main(argv):
    if len(argv) != 2 or argv[1] not in REQUIREMENTS:
        sys.exit(f"usage: {argv[0]} {'|'.join(REQUIREMENTS)}")
    try:
        print(ensure(argv[1]))
    except BuildError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main(sys.argv)
