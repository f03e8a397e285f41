"""The quiet iterations, what a five-minute schedule runs almost all day: a busy site's unchanged run (a session row
written between runs: the write counters decide, no scan), an idle site's (nothing committed: the precheck decides,
and no destination is asked within CHECKNINER_PROBE_INTERVAL), and the process start-up (`status`, which reads the
state file alone, and `-X importtime` of the command line).

They run on a database of their own (a copy of the size's template that no other contender writes to) with an S3
destination (moto, as on a deployed host), so that a round's business changes elsewhere do not turn them into changed
runs, and an idle run pays what a deployed host's idle run pays.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid

from support.pg import APP_USER, quote_ident
from support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer

BUCKET = "bench-quiet"


class Quiet:
    def __init__(self, bench):
        self.bench = bench
        self.db = f"{bench.db}_quiet"
        self.s3 = None

    def env(self, **extra):
        b = self.bench
        env = b.ours_env(
            S3_BUCKET_NAME=BUCKET,
            S3_ENDPOINT_URL=self.s3.endpoint_url,
            S3_ACCESS_KEY=ACCESS_KEY,
            S3_SECRET_KEY=SECRET_KEY,
            S3_REGION=REGION,
            **extra,
        )
        env.update(DATABASE_URL=b.pg.app_url(self.db), CHECKNINER_BACKUP_DIR=str(b.dir / "quiet"))
        return env

    def prime(self):
        """The copy, the endpoint, and a first archive uploaded (which counts as the destination's answer)."""
        b = self.bench
        b.pg.psql(
            f"CREATE DATABASE {quote_ident(self.db)} OWNER {quote_ident(APP_USER)} "
            f"TEMPLATE {quote_ident(b.template)} STRATEGY FILE_COPY;"
        )
        self.s3 = MotoServer().start()
        self.s3.create_bucket(BUCKET)
        _, row = b.measure(None, [b.cli, "run", "--json"], self.env())
        b.meta["quiet_first_run"] = row

    def close(self):
        if self.s3 is not None:
            self.s3.stop()
        self.bench.pg.drop_database(self.db)

    def session_row(self):
        """What a busy site commits between two runs: a session, no business row."""
        self.bench.pg.psql(
            f"INSERT INTO django_session VALUES ('bench-{uuid.uuid4().hex}', 'x', now() + interval '1 day');",  # noqa: S608 - our own value
            db=self.db,
            as_superuser=False,
        )

    def _run(self, key, expect_reason, **extra):
        b = self.bench
        m, row = b.measure(None, [b.cli, "run", "--json"], self.env(**extra))
        doc = _json(m.stdout)
        row.update(outcome=doc["outcome"], reason=doc.get("reason", ""))
        if doc["outcome"] != "unchanged" or (expect_reason and doc.get("reason") != expect_reason):
            raise SystemExit(f"{key or 'quiet settle run'}: expected unchanged ({expect_reason}), got {doc}")
        if key:
            b.runs[key].append(row)
            _log(f"{b.tag} {key:15s} {m.wall:8.2f} s  cpu {m.cpu:7.2f} s  server {m.server_cpu:6.2f} s  "
                 f"{doc['outcome']} {doc.get('reason', '')}")  # fmt: skip

    def round(self):
        # busy: a session row, a run that records the counters beside its digests (or finds them recorded), then the
        # measured one: a session row between two runs, decided by the counters
        self.session_row()
        self._run(None, None)
        self.session_row()
        self._run("ours_busy", "statistics")
        # idle: digests once (a run after one the counters decided), which records the precheck; then nothing
        # committed, the destination answered within the hour
        self._run(None, "digests", CHECKNINER_FULL_DIGEST_EVERY="1")
        self._run("ours_idle", "precheck")
        self.startup()

    def startup(self):
        b = self.bench
        _, row = b.measure(None, [b.cli, "status", "--json"], self.env())
        row["import_ms"] = _import_ms()
        b.runs["startup_status"].append(row)
        _log(f"{b.tag} startup_status  {row['wall']:8.2f} s  cpu {row['cpu']:7.2f} s  import {row['import_ms']:.0f} ms")


def _log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _import_ms():
    """Milliseconds `python -X importtime` spends importing the command line (every module it pulls in)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import checkniner_backup.cli"],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.findall(r"import time:\s+\d+ \|\s+(\d+) \| checkniner_backup\.cli$", proc.stderr, re.M)
    return int(match[-1]) / 1000 if match else float("nan")


def _json(stdout):
    return json.JSONDecoder().raw_decode(stdout.lstrip())[0]
