"""Least privilege (issue 12): with CHECKNINER_PRUNE_REMOTE=0 the host prunes its directory only, and
playbooks/prune.yml prunes S3 from the controller with the pruner's own keys (run for real by ansible-playbook)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.django_project import manage
from support.environment import signing_key_path

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
