"""Least privilege (issue 12): with CHECKNINER_PRUNE_REMOTE=0 the host prunes its directory only, and
playbooks/prune.yml prunes S3 from the controller with the pruner's own keys (run for real by ansible-playbook)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.archives import backup, first_error_line, repack, reseal
from support.django_project import manage
from support.environment import signing_key_path
from support.pg import APP_USER

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEEP_NEWEST_ONLY = {f"CHECKNINER_KEEP_{tier}": "0" for tier in ("WITHIN", "HOURLY", "DAILY", "WEEKLY", "MONTHLY")}
PRUNER_SECRET = "cnb-pruner-secret-5b1e"  # moto takes any keys: one nobody else prints


def remote(s3, bucket):
    resp = s3.client().list_objects_v2(Bucket=bucket, Prefix="db/")
    return sorted(o["Key"][3:] for o in resp.get("Contents", []) if o["Key"] != "db/latest.json")


def local(backup_env):
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    return sorted(p.name for p in directory.glob("*.tar.gz") if p.name != "latest.tar.gz")


def three_archives(run_cli, app_db):
    for i in range(3):
        if i:
            manage(["mutate_business"], app_db.url)
        assert run_cli("run").returncode == 0


def prune_playbook(tmp_path, s3, bucket, check=False):
    inventory = tmp_path / "inventory.yml"
    host = {
        "ansible_connection": "local",
        "checkniner_backup_s3_bucket": bucket,
        "checkniner_backup_s3_prefix": "db/",
        "checkniner_backup_s3_endpoint_url": s3.endpoint_url,
        "checkniner_backup_pruner_s3_access_key": "pruner",
        "checkniner_backup_pruner_s3_secret_key": PRUNER_SECRET,
        # the app host's public key: the pruner counts only the archives it signed
        "checkniner_backup_pruner_trusted_keys_file": f"{signing_key_path()}.pub",
        "checkniner_backup_retention": {"within": "0", "hourly": 0, "daily": 0, "weekly": 0, "monthly": 0},
    }
    inventory.write_text(json.dumps({"checkniner_app": {"hosts": {"app1": host}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "CHECKNINER_"))}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
        ANSIBLE_REMOTE_TEMP=str(tmp_path / "ansible-remote"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    argv = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / "prune.yml"), "-v"]
    if check:
        argv += ["--check", "--diff"]
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_host_prunes_local_only_and_the_pruner_playbook_prunes_s3(run_cli, backup_env, app_db, s3, bucket, tmp_path):
    three_archives(run_cli, app_db)
    archives = local(backup_env)
    assert len(archives) == 3 and remote(s3, bucket) == archives

    host = run_cli("prune", env=dict(KEEP_NEWEST_ONLY, CHECKNINER_PRUNE_REMOTE="0"))
    assert host.returncode == 0, host.stdout + host.stderr
    assert "not pruned here (CHECKNINER_PRUNE_REMOTE=0" in host.stdout + host.stderr
    assert local(backup_env) == archives[-1:]
    assert remote(s3, bucket) == archives, "the host deleted from S3"

    dry = prune_playbook(tmp_path, s3, bucket, check=True)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert remote(s3, bucket) == archives
    done = prune_playbook(tmp_path, s3, bucket)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "changed: [app1" in done.stdout, done.stdout
    assert remote(s3, bucket) == archives[-1:]
    assert PRUNER_SECRET not in dry.stdout + dry.stderr + done.stdout + done.stderr


def test_bad_prune_remote_value_is_a_configuration_error(run_cli):
    result = run_cli("prune", env={"CHECKNINER_PRUNE_REMOTE": "maybe"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "CHECKNINER_PRUNE_REMOTE must be 1" in result.stderr.splitlines()[0], result.stderr


# -- the drill's own role (CHECKNINER_VERIFY_DATABASE_URL) -----------------------------------------------------------

DRILL_ROLE, DRILL_SECRET = "cnb_drill", "cnb-drill-secret-9a41"


@pytest.fixture
def drill_url(pg):
    """A role with CREATEDB that owns nothing of production, and the URL the drill connects with as it."""
    pg.psql(
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{DRILL_ROLE}') THEN "
        f"CREATE ROLE {DRILL_ROLE} LOGIN CREATEDB PASSWORD '{DRILL_SECRET}'; END IF; END$$"
    )
    return pg.url(DRILL_ROLE, DRILL_SECRET, "postgres")


def database_settings(pg, db):
    return pg.psql(
        "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
        f"WHERE d.datname = '{db}'"
    )


def test_the_drill_replays_as_its_own_role_and_cannot_touch_production(
    pg, app_db, run_cli, backup_env, tmp_path, drill_url
):
    """An archive signed by a trusted key (a host that was broken into) whose SQL alters the production database its
    role owns: the drill as the drill's role fails on it and production keeps its settings; as the application's role
    (the control) the same drill commits it. A genuine archive's drill passes as the drill's role."""
    name = backup(run_cli)
    own = {"CHECKNINER_VERIFY_DATABASE_URL": drill_url}
    proc = run_cli("verify", "--json", env=own)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] and not any("owner" in w for w in doc["warnings"]), doc["warnings"]
    assert DRILL_SECRET not in proc.stdout + proc.stderr

    statement = f'ALTER DATABASE "{app_db.name}" SET default_transaction_read_only = on;\n'.encode()

    def hostile(members, manifest):
        sql = f"{app_db.name}.sql"
        members[sql] = statement + members[sql]
        reseal(members, manifest, sql)

    crafted = tmp_path / "crafted"
    crafted.mkdir()
    path = repack(Path(backup_env["CHECKNINER_BACKUP_DIR"]) / name, crafted / name, hostile)
    before = database_settings(pg, app_db.name)
    proc = run_cli("verify", "--archive", path, env=own)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = first_error_line(proc)
    assert "must be owner of database" in line and "rolled back" in line, line
    assert "Traceback" not in proc.stderr and DRILL_SECRET not in proc.stdout + proc.stderr
    assert database_settings(pg, app_db.name) == before
    assert pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'cnb\\_verify\\_%'").strip() == "0"

    # the control: the application's role owns production, and the same drill changes it
    proc = run_cli("verify", "--archive", path)
    assert "default_transaction_read_only=on" in database_settings(pg, app_db.name), proc.stdout + proc.stderr


def test_the_drill_warns_when_its_own_role_owns_production(pg, app_db, run_cli, backup_env):
    backup(run_cli)
    as_owner = pg.url(APP_USER, pg.app_password, "postgres")
    proc = run_cli("verify", "--json", env={"CHECKNINER_VERIFY_DATABASE_URL": as_owner})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warnings = json.loads(proc.stdout)["warnings"]
    assert any("can act as the owner of the production database" in w for w in warnings), warnings
