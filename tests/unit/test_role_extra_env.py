"""checkniner_backup_extra_env: its names become `export NAME=...` lines of the variables file the wrapper sources, so
the role refuses a name that is not a variable name before anything is written (a `;` in one ran a command there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAYBOOK = """\
- name: The role's checks of its variables
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run the extra environment's check of tasks/assert.yml
      ansible.builtin.include_role:
        name: checkniner_backup
        tasks_from: assert.yml
"""


def run_asserts(tmp_path, extra_env):
    (tmp_path / "check.yml").write_text(PLAYBOOK)
    variables = {
        "checkniner_backup_database_url": "postgres://app@localhost/app",
        "checkniner_backup_manage_py": "/srv/app/manage.py",
        "checkniner_backup_django_settings_module": "app.settings",
        "checkniner_backup_app_user": "root",
        "checkniner_backup_extra_env": extra_env,
    }
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    # the check of the application user runs a module (getent): the tests' interpreter runs it
    (tmp_path / "hosts").write_text(f"localhost ansible_python_interpreter={sys.executable}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    argv = [
        str(BIN / "ansible-playbook"),
        "-i",
        str(tmp_path / "hosts"),
        "-e",
        f"@{tmp_path}/vars.json",
        str(tmp_path / "check.yml"),
    ]
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["X;touch /tmp/pwned", "AWS-PROFILE", "1ST", "$(id)", "A B"])
def test_a_name_that_is_not_a_variable_name_is_refused_by_name(tmp_path, name):
    code, out = run_asserts(tmp_path, {name: "value-7f3a", "AWS_PROFILE": "backup"})
    assert code != 0, out
    assert "checkniner_backup_extra_env has names that are not environment variable names" in out, out
    assert json.dumps(name) in out and "AWS_PROFILE" not in out.split("variable names")[-1].split("\n")[0]
    assert "value-7f3a" not in out  # names only: a value may be a secret


def test_variable_names_pass(tmp_path):
    code, out = run_asserts(tmp_path, {"AWS_PROFILE": "backup", "_PRIVATE": "x", "S3_OFFSITE_BUCKET_NAME": "b"})
    assert code == 0, out
