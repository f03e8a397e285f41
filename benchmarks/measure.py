"""Measurement: the throwaway databases, and each contender run under the process meter (meter.py).

For one size of one shape, Bench builds a template database once and copies it into the working one, primes each
pipeline that keeps a previous archive, then runs the contender groups in rounds whose order rotates; every run becomes
a row of results/size-N.json or narrow-N.json (results.save_size), saved after each round. Shapes (seed_bulk --shape):
wide, about a thousand checkouts a pilot with free-text notes; narrow, a busy site's many small rows (ids, foreign
keys, a date), 40 bytes a checkout counted (48 MB: 1.2 million checkouts).
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import meter
from quiet import Quiet
from results import ORDER, save_size

# the tests' harness: tests/ is on sys.path (run.py puts it there)
from support.django_project import MANAGE_PY, SAMPLEPROJECT, SETTINGS_MODULE, manage, migrate, seed
from support.pg import APP_USER, quote_ident

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
BUSINESS_APPS = ("auth", "checkouts")
GROUPS = ("raw", "old", "dbbackup", "dumpdata", "ours", "quiet", "restore")  # Bench methods, run in this order, rotated


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def ensure_dbbackup():
    try:
        import dbbackup  # noqa: F401
    except ImportError:
        log("installing django-dbbackup into the venv (benchmarks only)")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "django-dbbackup"], check=True)
    out = subprocess.run(
        [sys.executable, "-m", "pip", "show", "django-dbbackup"], capture_output=True, text=True, check=True
    ).stdout
    return next((line.split()[-1] for line in out.splitlines() if line.startswith("Version:")), "?")


def machine(pg):
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    django = subprocess.run(
        [sys.executable, "-c", "import django; print(django.get_version())"], capture_output=True, text=True
    ).stdout.strip()
    pg_dump = subprocess.run([pg.bin("pg_dump"), "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(mem / 1024 / 1024, 1),
        "kernel": platform.release(),
        "postgresql": pg.psql("SHOW server_version;").strip(),
        "pg_dump": pg_dump,
        "python": platform.python_version(),
        "django": django,
        "loadavg_start": os.getloadavg(),
        "engine_commit": _engine_commit(),
    }


def _engine_commit():
    """The commit the engine was measured at (+ "dirty" when module_utils has uncommitted changes)."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "module_utils"], capture_output=True, text=True).stdout
    return head + (" (module_utils dirty)" if dirty.strip() else "")


def clean_env(pg):
    drop = ("PG", "S3_", "AWS_", "CHECKNINER_", "DJANGO_", "DATABASE_", "BACKUPS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PATH"] = os.pathsep.join([str(pg.bindir), str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    env["LANG"] = "C.UTF-8"
    return env


class Bench:
    def __init__(self, pg, size, rounds, env, shape="wide"):
        self.pg = pg
        self.size = size
        self.shape = shape
        self.rounds = rounds
        self.base_env = env
        self.postmaster = int((pg.datadir / "postmaster.pid").read_text().split()[0])
        self.db = f"bench_{shape}_{size}"
        self.template = f"tpl_{shape}_{size}"
        self.url = pg.app_url(self.db)
        self.dir = WORK / f"{shape}-{size}mb"
        self.tag = f"{size} MB {shape}"  # in the log
        self.runs = {key: [] for key in ORDER}
        self.meta = {"megabytes_requested": size, "shape": shape}
        self.merge_into = None  # --merge: the earlier result for this size and shape

    # -- setup -----------------------------------------------------------------------------------------------

    def build(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        # signed and trusted, as the role deploys it: a restore refuses an unsigned archive, and checks the signature
        self.key = self.dir / "signing.key"
        cli = Path(sys.executable).parent / "checkniner-backup"
        subprocess.run([str(cli), "keygen", str(self.key)], env=self.base_env, check=True, capture_output=True)
        template = self.template
        self.pg.create_database(template)
        turl = self.pg.app_url(template)
        started = time.monotonic()
        migrate(turl)
        seed(turl)
        log(f"{self.tag}: seed_bulk --megabytes {self.size} --shape {self.shape} ...")
        out = manage(["seed_bulk", "--megabytes", str(self.size), "--shape", self.shape], turl).stdout.strip()
        self.pg.psql("VACUUM (FREEZE, ANALYZE);", db=template)
        self.pg.psql("CHECKPOINT;")
        self.meta["build_seconds"] = round(time.monotonic() - started, 1)
        self.meta["seed_bulk"] = out
        started = time.monotonic()
        self.pg.psql(
            f"CREATE DATABASE {quote_ident(self.db)} OWNER {quote_ident(APP_USER)} "
            f"TEMPLATE {quote_ident(template)} STRATEGY FILE_COPY;"
        )
        self.meta["copy_seconds"] = round(time.monotonic() - started, 1)
        sizes = self.pg.psql(
            "SELECT pg_database_size(current_database()),"
            " (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            "  WHERE n.nspname = 'public' AND c.relkind = 'r' AND (c.relname LIKE 'auth\\_%' OR c.relname LIKE"
            "  'checkouts\\_%')),"
            " (SELECT count(*) FROM checkouts_checkout), (SELECT count(*) FROM auth_user);",
            db=self.db,
        ).strip()
        db_bytes, business_bytes, checkouts, users = (int(x) for x in sizes.split("|"))
        self.meta.update(
            database_bytes=db_bytes, business_bytes=business_bytes, checkouts=checkouts, users=users, rounds=self.rounds
        )
        log(f"{self.tag}: database {db_bytes / 1e6:.0f} MB, {checkouts} checkouts, {users} users")

    def env(self, **extra):
        env = dict(self.base_env)
        env.update(extra)
        return env

    def ours_env(self, **extra):
        return self.env(
            DATABASE_URL=self.url,
            CHECKNINER_BACKUP_DIR=str(self.dir / "ours"),
            DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
            CHECKNINER_MANAGE_PY=str(MANAGE_PY),
            CHECKNINER_DJANGO_PYTHON=sys.executable,
            CHECKNINER_SIGNING_KEY=str(self.key),
            CHECKNINER_TRUSTED_KEYS=f"{self.key}.pub",
            **extra,
        )

    def measure(self, key, argv, env, cwd=None, stdout_path=None, output=None, check=True, **info):
        m = meter.run(argv, env=env, cwd=cwd, postmaster=self.postmaster, stdout_path=stdout_path)
        if check and m.returncode != 0:
            raise SystemExit(f"{key}: {' '.join(map(str, argv[:6]))} failed ({m.returncode}):\n{m.stderr[-3000:]}")
        size = output() if callable(output) else (os.path.getsize(output) if output else 0)
        row = {
            "wall": round(m.wall, 3),
            "cpu": round(m.cpu, 3),
            "user": round(m.user, 3),
            "sys": round(m.sys, 3),
            "server_cpu": round(m.server_cpu, 2),
            "peak_rss": m.peak_rss,
            "peak_procs": m.peak_procs,
            "samples": m.samples,
            "output_bytes": size,
            "loadavg": round(os.getloadavg()[0], 2),
            **info,
        }
        if key:
            self.runs[key].append(row)
            log(
                f"{self.tag} {key:15s} {m.wall:8.2f} s  cpu {m.cpu:7.2f} s  server {m.server_cpu:6.2f} s  "
                f"rss {m.peak_rss / 2**20:7.1f} MB  out {size / 2**20:8.1f} MB {info or ''}"
            )
        return m, row

    # -- changes ---------------------------------------------------------------------------------------------

    def business_change(self):
        """One business write: rename one airstrip to a name never used before (the data size stays put)."""
        self.pg.psql(
            f"UPDATE checkouts_airstrip SET name = 'Renamed by bench {time.time_ns()}'"  # noqa: S608 - our own value
            " WHERE id = (SELECT min(id) FROM checkouts_airstrip);",
            db=self.db,
            as_superuser=False,
        )

    def sessions_change(self):
        manage(["touch_sessions"], self.url)

    # -- contenders ------------------------------------------------------------------------------------------

    def raw(self):
        out = self.dir / "raw.sql.gz"
        script = f'pg_dump -h {self.pg.host} -p {self.pg.port} -U {APP_USER} {self.db} | gzip > "{out}"'
        env = self.env(PGPASSWORD=self.pg.app_password)
        self.measure("raw", ["bash", "-o", "pipefail", "-c", script], env, output=out)
        out.unlink()

    def _old_run(self):
        """One run of the old pipeline (the first one primes it, see prime); (meter result, row), the row not kept."""
        argv = [sys.executable, str(HERE / "old_pipeline.py"), str(self.dir / "old"), "--database-url", self.url,
                "--manage-py", str(MANAGE_PY), "--apps", ",".join(self.labels)]  # fmt: skip
        return self.measure(None, argv, self.env(DJANGO_SETTINGS_MODULE=SETTINGS_MODULE))

    def _old(self, key):
        outdir = self.dir / "old"
        m, row = self._old_run()
        outcome = m.stdout.strip().split()[0]
        row["outcome"] = outcome
        row["output_bytes"] = os.path.getsize(outdir / "latest.tar.gz") if outcome == "saved" else 0
        self.runs[key].append(row)
        log(f"{self.tag} {key:15s} {m.wall:8.2f} s  cpu {m.cpu:7.2f} s  rss {m.peak_rss / 2**20:7.1f} MB {outcome}")
        _prune(outdir)

    def old(self):
        self.business_change()
        self._old("old_changed")
        self.sessions_change()
        self._old("old_sessions")

    def dbbackup(self):
        outdir = self.dir / "dbbackup"
        shutil.rmtree(outdir, ignore_errors=True)
        outdir.mkdir()
        env = self.env(
            DATABASE_URL=self.url,
            DJANGO_SETTINGS_MODULE="dbbackup_settings",
            PYTHONPATH=os.pathsep.join([str(HERE), str(SAMPLEPROJECT)]),
            BENCH_DBBACKUP_DIR=str(outdir),
        )

        def output():
            files = list(outdir.iterdir())
            return sum(f.stat().st_size for f in files)

        self.measure(
            "dbbackup", [sys.executable, str(MANAGE_PY), "dbbackup", "--compress", "--noinput"], env,
            cwd=SAMPLEPROJECT, output=output,
        )  # fmt: skip
        shutil.rmtree(outdir, ignore_errors=True)

    def dumpdata(self):
        out = self.dir / "business.json"
        env = self.env(DATABASE_URL=self.url, DJANGO_SETTINGS_MODULE=SETTINGS_MODULE)
        argv = [sys.executable, str(MANAGE_PY), "dumpdata", *BUSINESS_APPS]
        self.measure("dumpdata", argv, env, cwd=SAMPLEPROJECT, stdout_path=out, output=out)
        out.unlink()

    def _ours(self, key, expect):
        m, row = self.measure(None, [self.cli, "run", "--json"], self.ours_env())
        doc = _json_out(m)
        row.update(outcome=doc["outcome"], reason=doc.get("reason", ""), output_bytes=doc.get("size") or 0)
        if doc["outcome"] != expect:
            raise SystemExit(f"{key}: expected {expect}, got {doc}")
        self.runs[key].append(row)
        log(
            f"{self.tag} {key:15s} {m.wall:8.2f} s  cpu {m.cpu:7.2f} s  server {m.server_cpu:6.2f} s  "
            f"rss {m.peak_rss / 2**20:7.1f} MB  {doc['outcome']} {doc.get('reason', '')}"
        )
        _prune(self.dir / "ours", self.archive.name)  # the archive the restore rows read stays
        return doc

    def ours(self):
        self.business_change()
        self._ours("ours_changed", "saved")
        # twice: right after a save (its own reads may have moved the WAL: page pruning), then settled
        self._ours("ours_unchanged", "unchanged")
        self._ours("ours_unchanged", "unchanged")
        self.sessions_change()
        self._ours("ours_sessions", "unchanged")

    def quiet(self):
        """The busy site's and the idle site's unchanged runs and the start-up, on their own database (quiet.py)."""
        self.quiet_runs.round()

    def restore(self, round_no):
        order = ("psql", "ours", "ours_path")
        shift = round_no % len(order)
        for kind in order[shift:] + order[:shift]:
            target = f"restore_{kind}"
            self.pg.drop_database(target)
            self.pg.create_database(target)
            if kind == "psql":
                argv = [self.pg.bin("psql"), "-X", "-q", "-h", self.pg.host, "-p", str(self.pg.port), "-U", APP_USER,
                        "-d", target, "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", str(self.sql)]  # fmt: skip
                self.measure("restore_psql", argv, self.env(PGPASSWORD=self.pg.app_password), output=self.sql)
            else:
                env = self.ours_env(CHECKNINER_RESTORE_TARGET_DATABASE_URL=self.pg.app_url(target))
                ref = self.archive.name if kind == "ours" else str(self.archive)
                m, row = self.measure(
                    target,
                    [self.cli, "restore", "--mode", "sql", "--archive", ref, "--json"],
                    env,
                    output=self.archive,
                    check=False,
                )
                try:
                    doc = _json_out(m)
                except ValueError:
                    raise SystemExit(f"restore failed ({m.returncode}): {m.stderr[-2000:]}") from None
                # a failed proof is recorded, not fatal: the work timed is the same, and the report says so
                row["outcome"] = "proved" if doc.get("ok") else "PROOF FAILED"
                if not doc.get("ok"):
                    row["message"] = doc.get("message", "")
                    row["apps"] = doc.get("apps")
                    log(f"{self.tag} restore_ours: {doc.get('message')}")
            self.pg.drop_database(target)

    # -- the whole size --------------------------------------------------------------------------------------

    def prime(self):
        """First runs (not in the table): each keeping pipeline needs a previous archive; ours gives the restore one."""
        code = "from django.apps import apps; print(','.join(a.label for a in apps.get_app_configs()))"
        self.labels = manage(["shell", "-c", code], self.url).stdout.strip().splitlines()[-1].split(",")
        self.cli = str(Path(sys.executable).parent / "checkniner-backup")
        _, first = self.measure(None, [self.cli, "run", "--json"], self.ours_env())
        self.meta["ours_first_run"] = first
        if "old" in self.only:
            self.meta["old_first_run"] = self._old_run()[1]
        name = os.path.basename(os.path.realpath(self.dir / "ours" / "latest.tar.gz"))
        restore_dir = self.dir / "restore"
        restore_dir.mkdir()
        self.archive = restore_dir / name
        shutil.copy(self.dir / "ours" / name, self.archive)
        with tarfile.open(self.archive, "r:gz") as tar:
            tar.extract(f"{self.db}.sql", restore_dir)
        self.sql = restore_dir / f"{self.db}.sql"
        self.meta["sql_bytes"] = self.sql.stat().st_size
        self.meta["archive_bytes"] = self.archive.stat().st_size
        if "quiet" in self.only:
            self.quiet_runs = Quiet(self)
            self.quiet_runs.prime()

    def run(self, only):
        self.only = only
        self.quiet_runs = None
        self.build()
        try:
            return self._rounds()
        finally:
            if self.quiet_runs is not None:
                self.quiet_runs.close()

    def _rounds(self):
        self.prime()
        only = self.only
        for r in range(self.rounds):
            groups = [g for g in GROUPS if g in only]
            shift = r % len(groups)
            groups = groups[shift:] + groups[:shift]
            log(f"{self.tag}: round {r + 1}/{self.rounds}: {' '.join(groups)}")
            for group in groups:
                if group == "restore":
                    self.restore(r)
                else:
                    getattr(self, group)()
            self.meta["rounds_done"] = r + 1
            self.save()  # after every round: an interrupted run still leaves its rounds behind
        return self.save()

    def save(self):
        return save_size(self.size, self.meta, self.runs, self.merge_into, self.shape)


def _json_out(m):
    """The JSON document a `checkniner-backup ... --json` run printed first (anything after it is ignored)."""
    return json.JSONDecoder().raw_decode(m.stdout.lstrip())[0]


def _prune(outdir, *keep):
    """Remove the archives of earlier runs, so that a round does not fill the disk: `latest` and keep (names) stay."""
    kept = {os.path.realpath(outdir / name) for name in ("latest.tar.gz", *keep)}
    for path in glob.glob(str(outdir / "*.tar.gz")):
        if os.path.realpath(path) not in kept and not path.endswith("latest.tar.gz"):
            os.unlink(path)
