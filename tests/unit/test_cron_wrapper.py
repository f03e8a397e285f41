"""The role's cron wrapper, rendered from its template and run with a stand-in checkniner-backup on PATH: the log
names the subcommand, never its arguments (a restore's target URL holds a password: issue 12)."""

import shlex
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "roles" / "checkniner_backup" / "templates" / "checkniner-backup-cron.sh.j2"
PASSWORD = "Wr4pper-Pa55word"


@pytest.fixture
def wrapper(tmp_path):
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    fake = venv_bin / "checkniner-backup"
    fake.write_text(f'#!/bin/sh\necho "$*" > {tmp_path}/argv\necho "restored into database on 127.0.0.1"\n')
    fake.chmod(0o755)
    env_file = tmp_path / "checkniner-backup.env"
    env_file.write_text("export CHECKNINER_BACKUP_DIR=/nowhere\n")
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    # Ansible's quote filter is shlex.quote; importing Ansible's filter plugins here would change its global state
    # (the dedup of module warnings) for the module tests that run in the same process
    environment.filters["quote"] = shlex.quote
    script = environment.from_string(TEMPLATE.read_text()).render(
        ansible_managed="managed by the test",
        checkniner_backup_env_file=str(env_file),
        checkniner_backup_log_file=str(tmp_path / "backup.log"),
        checkniner_backup_app_user="checkniner",
        checkniner_backup_virtualenv=str(tmp_path / "venv"),
    )
    path = tmp_path / "checkniner-backup-cron"
    path.write_text(script)
    path.chmod(0o755)
    return path


@pytest.mark.skipif(not shutil.which("bash"), reason="the wrapper is a bash script")
def test_restore_with_a_target_url_logs_the_subcommand_only(wrapper, tmp_path):
    url = f"postgres://app:{PASSWORD}@db.internal/staging"
    argv = [str(wrapper), "restore", "--target-database-url", url, "--yes"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "argv").read_text().strip() == f"restore --target-database-url {url} --yes"  # it did run
    log = (tmp_path / "backup.log").read_text()
    assert "checkniner-backup restore (pid " in log, log
    assert "restored into database" in log, log
    assert PASSWORD not in log and "--target-database-url" not in log, log
