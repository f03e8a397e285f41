"""Restore of a ~100 MB database: `checkniner-backup restore` against plain `psql -1 -f` of the same SQL.

Not a timed test. Starts a throwaway PostgreSQL cluster, migrates and seeds the sample project, grows it with
`seed_bulk --megabytes N`, takes one archive with `checkniner-backup run`, then restores it into fresh databases:

- baseline: `psql -1 -f <db>.sql` (the SQL already extracted: the seed's procedure, minus tar);
- ours: `checkniner-backup restore --target-database-url ...` (checksums + extraction of every member, the
  replay in one transaction with ON_ERROR_STOP, the row-count checks, and the proof: a business fingerprint
  recomputed by the application's Django);
- also `checkniner-backup verify` (the drill: all of the above into a scratch database, plus migrate --check).

Writes benchmarks/results/restore.json and prints one markdown table row.

    .venv/bin/python benchmarks/restore_bench.py [--megabytes 100]
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.django_project import MANAGE_PY, SETTINGS_MODULE, manage, migrate, seed  # noqa: E402
from support.pg import PostgresCluster  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "restore.json"


def timed(argv, env, **kwargs):
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, **kwargs)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv[:4]))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed, proc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=100.0, help="business data to add with seed_bulk")
    parser.add_argument("--repeat", type=int, default=1, help="restores of each kind; the best time counts")
    args = parser.parse_args()

    with PostgresCluster() as pg, tempfile.TemporaryDirectory(prefix="cnb-bench-") as tmp:
        source = "bench_source"
        pg.create_database(source)
        url = pg.app_url(source)
        migrate(url)
        seed(url)
        print(f"seeding about {args.megabytes:g} MB ...", file=sys.stderr)
        manage(["seed_bulk", "--megabytes", str(args.megabytes)], url)
        db_size = int(pg.psql(f"SELECT pg_database_size('{source}');").strip())

        env = {
            "PATH": f"{pg.bindir}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "HOME": tmp,
            "LANG": "C.UTF-8",
            "DATABASE_URL": url,
            "CHECKNINER_BACKUP_DIR": os.path.join(tmp, "backups"),
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "CHECKNINER_MANAGE_PY": str(MANAGE_PY),
            "CHECKNINER_DJANGO_PYTHON": sys.executable,
        }
        cli = [sys.executable, "-m", "checkniner_backup.cli"]
        backup_seconds, _ = timed([*cli, "run"], env)
        archive_path = os.path.realpath(os.path.join(env["CHECKNINER_BACKUP_DIR"], "latest.tar.gz"))
        sql_name = f"{source}.sql"
        with tarfile.open(archive_path, "r:gz") as tar:
            tar.extract(sql_name, tmp)
        sql_path = os.path.join(tmp, sql_name)

        plain, ours, drill = [], [], []
        for i in range(args.repeat):
            target = f"bench_plain_{i}"
            pg.create_database(target)
            seconds, _ = timed(
                [pg.bin("psql"), "-X", "-q", "-h", pg.host, "-p", str(pg.port), "-U", "checkniner", "-d", target,
                 "-1", "-f", sql_path],
                {**pg.env(as_superuser=False)},
                stdout=None,
            )  # fmt: skip
            plain.append(seconds)
            pg.drop_database(target)

            target = f"bench_restore_{i}"
            seconds, proc = timed(
                [*cli, "restore", "--json"], {**env, "CHECKNINER_RESTORE_TARGET_DATABASE_URL": pg.app_url(target)}
            )
            doc = json.loads(proc.stdout)
            if not doc["ok"]:
                raise SystemExit(f"restore did not prove: {doc['message']}")
            ours.append(seconds)
            pg.drop_database(target)

            seconds, _ = timed([*cli, "verify"], env)
            drill.append(seconds)

        result = {
            "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "megabytes_requested": args.megabytes,
            "database_bytes": db_size,
            "sql_bytes": os.path.getsize(sql_path),
            "archive_bytes": os.path.getsize(archive_path),
            "backup_seconds": round(backup_seconds, 2),
            "plain_psql_seconds": round(min(plain), 2),
            "restore_seconds": round(min(ours), 2),
            "verify_seconds": round(min(drill), 2),
            "ratio": round(min(ours) / min(plain), 2),
            "tables": len(doc["tables"]),
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    mb = result["sql_bytes"] / 1e6
    print("| restore | SQL MB | psql -1 -f | checkniner-backup restore | ratio | verify (drill) |")
    print("|---|---|---|---|---|---|")
    print(
        f"| into a new database | {mb:.0f} | {result['plain_psql_seconds']:.1f} s | {result['restore_seconds']:.1f} s "
        f"| {result['ratio']:.2f}x | {result['verify_seconds']:.1f} s |"
    )


if __name__ == "__main__":
    main()
