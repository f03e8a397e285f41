#!/usr/bin/env python3
"""`make demo`: the whole pipeline on an embedded default, start to finish, on this machine.

A throwaway PostgreSQL cluster with the sample Django app and its data, a local S3 endpoint (moto server, real
HTTP), a local archive directory under ./demo/: run -> unchanged run -> sessions-only write -> business change ->
run -> list -> restore drill, every archive signed by a key made for the demo and checked against it. Everything is
stopped and removed at the end except ./demo/backups and ./demo/signing.key(.pub).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.django_project import manage, migrate, seed  # noqa: E402
from support.environment import backup_environment  # noqa: E402
from support.pg import PostgresCluster  # noqa: E402
from support.s3 import MotoServer  # noqa: E402

DEMO = ROOT / "demo"


def step(title):
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def cli(env, *args, check=True):
    shown = " ".join(["checkniner-backup", *args])
    print(f"$ {shown}", flush=True)
    result = subprocess.run([sys.executable, "-m", "checkniner_backup.cli", *args], env=env, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"demo: `{shown}` exited {result.returncode}")
    return result.returncode


def main():
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    step("starting a throwaway PostgreSQL cluster and a local S3 endpoint")
    with PostgresCluster() as pg, MotoServer() as s3:
        pg.create_database("checkniner")
        url = pg.app_url("checkniner")
        migrate(url)
        seed(url)
        s3.create_bucket("checkniner-demo")
        print(f"PostgreSQL {pg.bindir} on 127.0.0.1:{pg.port}, S3 endpoint {s3.endpoint_url}, bucket checkniner-demo")
        home = os.environ.get("HOME", str(DEMO))
        env = backup_environment(pg, s3, url, "checkniner-demo", DEMO / "backups", home)
        step("a signing key: every archive is signed, restores and drills accept only archives signed by it")
        cli(env, "keygen", str(DEMO / "signing.key"))
        env.update(
            CHECKNINER_SIGNING_KEY=str(DEMO / "signing.key"), CHECKNINER_TRUSTED_KEYS=str(DEMO / "signing.key.pub")
        )
        step("first run: always saves, uploads, points latest.json at it")
        cli(env, "run")
        step("second run, nothing committed since: the precheck skips the dump entirely")
        cli(env, "run")
        step("a sessions-only write (not business data): business-table digests compared in the server, nothing saved")
        manage(["touch_sessions"], url)
        cli(env, "run")
        step("a business change (insert, update, delete in checkouts): a new archive")
        manage(["mutate_business"], url)
        cli(env, "run")
        step("what is where")
        cli(env, "list")
        cli(env, "list", "--remote")
        cli(env, "status")
        step("restore drill: restore latest into a scratch database, prove it, drop it")
        cli(env, "verify", "--archive", "latest")
    step(f"done; archives kept in {DEMO / 'backups'} (PostgreSQL and the S3 endpoint are stopped)")


if __name__ == "__main__":
    main()
