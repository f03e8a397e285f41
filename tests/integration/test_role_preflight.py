"""The role's deploy-time PostgreSQL check (roles/checkniner_backup/tasks/postgresql.yml), run by ansible-playbook on
localhost against the real server: it says which pg_dump can dump which server, and a URL that does not parse or a
wrong password fails with the role's advice and no piece of the password, at -v (the role used to parse the URL in
Jinja, whose error quoted the password: "Port could not be cast to integer value as 'Kx9'").

The task becomes the application user; here that is switched off (ansible_become=false, which overrides the task's
keyword): the test runs as whoever runs the tests. Molecule converges the whole role, become and all.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from support.pg import APP_PASSWORD

from .test_secrets import ENCODED, leaked, url_with_password

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAYBOOK = """\
- name: The role's PostgreSQL check
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run tasks/postgresql.yml of the role
      ansible.builtin.include_role:
        name: checkniner_backup
        tasks_from: postgresql.yml
"""


def run_check(tmp_path, backup_env, database_url):
    """ansible-playbook -v of the role's check with this URL; returns (exit code, everything it printed)."""
    (tmp_path / "check.yml").write_text(PLAYBOOK)
    variables = {
        "checkniner_backup_database_url": database_url,
        "checkniner_backup_app_user": getpass.getuser(),
        "checkniner_backup_virtualenv": str(BIN.parent),  # the tests' virtualenv: the engine's dependencies are there
        "ansible_become": False,
    }
    (tmp_path / "check.vars.json").write_text(json.dumps(variables))
    # an inventory variable, below the task's own ansible_python_interpreter (the engine's virtualenv)
    (tmp_path / "hosts").write_text(f"localhost ansible_python_interpreter={sys.executable}\n")
    env = {k: v for k, v in backup_env.items() if k != "DATABASE_URL"}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
        ANSIBLE_LIBRARY=str(ROOT / "library"),
        ANSIBLE_MODULE_UTILS=str(ROOT / "module_utils"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
        ANSIBLE_REMOTE_TEMP=str(tmp_path / "ansible-remote"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}{os.pathsep}{backup_env['PATH']}",
    )
    argv = [str(BIN / "ansible-playbook"), "-i", str(tmp_path / "hosts"), "-v", "-e", f"@{tmp_path}/check.vars.json"]
    argv.append(str(tmp_path / "check.yml"))
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_role_check_passes_and_names_the_versions(tmp_path, backup_env, app_db):
    code, out = run_check(tmp_path, backup_env, app_db.url)
    assert code == 0, out
    assert "can dump PostgreSQL" in out, out
    assert APP_PASSWORD not in out and quote(APP_PASSWORD) not in out


ADVICE = "or set checkniner_backup_check_postgresql_version to false to skip this check"
UNPARSABLE = "DATABASE_URL cannot be parsed"


@pytest.mark.parametrize(
    "password, encode, line",
    [
        ("Kx9/Tail-Of-Secret", False, f"{UNPARSABLE} (its host or port cannot be read)"),
        ("12345/Tail-Of-Secret", False, f"{UNPARSABLE} (part of it ends up outside user:password@host)"),
        (ENCODED, True, "wrong user or password"),
    ],
)
def test_role_check_fails_with_advice_and_no_password_piece(tmp_path, backup_env, app_db, password, encode, line):
    code, out = run_check(tmp_path, backup_env, url_with_password(app_db.url, password, encode))
    assert code != 0, out
    assert re.search(r"PostgreSQL check \(checkniner_preflight, as \S+ with \S+/bin/python,[^)]*\) failed on", out)
    assert "failed on localhost: " in out and line in out and ADVICE in out, out
    assert not leaked(out), out
