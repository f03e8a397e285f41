"""Side-by-side benchmarks (`make bench`): checkniner-backup against the old pipeline, django-dbbackup and raw pg_dump.

One invocation, one throwaway PostgreSQL cluster. For each size of each shape (`seed_bulk --shape`: wide, about 10 MB,
100 MB, 1 GB of business data with free-text notes; narrow, a busy site's many small rows, 48 MB of row data = 1.2
million checkouts) a template database is built once (migrate, seed_demo, seed_bulk, VACUUM FREEZE ANALYZE) and copied
into the working database. Then, in rounds whose order rotates (A B C ..., B C ... A, ...):

- raw        `pg_dump | gzip > file` (the floor for the SQL part)
- old        the original pipeline (benchmarks/old_pipeline.py) after a business change, and after a sessions write
- dbbackup   django-dbbackup's `dbbackup --compress`
- dumpdata   one `manage.py dumpdata auth checkouts` process (the business apps, once)
- ours       `checkniner-backup run` after a business change, with nothing changed, after a sessions write
- quiet      on a database of its own with an S3 destination (moto): the busy site's unchanged run (a session row
             between runs), the idle run, and the start-up of `status` (benchmarks/quiet.py)
- restore    `psql --single-transaction -f <db>.sql` and `checkniner-backup restore --mode sql`, each into a new
             empty database, from the same archive (psql gets the SQL already extracted); ours restores it by name
             from the backup directory (checksum recorded when saved, as `latest` or a name from S3 is), and once
             more given as a path (no record: every member of the archive is decompressed and checked)

Each run: wall time, CPU (user+sys) of the whole process tree, PostgreSQL server CPU (apart: backends are not in
the tree), peak RSS of the whole tree (sampled every 50 ms), output size. Raw runs go to benchmarks/results/*.json,
the report to benchmarks/RESULTS.md.

This file only reads the options and runs the sizes in order: measure.py measures (meter.py meters one process tree),
results.py keeps the runs on disk, stats.py makes figures of them, report.py writes the report, and targets.py holds
the targets and their verdicts.

    .venv/bin/python benchmarks/run.py [--sizes 10,100,1000] [--narrow-sizes 48] [--shapes wide,narrow] [--rounds 3]
                                       [--size-rounds 1000=1]
    .venv/bin/python benchmarks/run.py --report-only     # rewrite RESULTS.md from benchmarks/results/*.json
    .venv/bin/python benchmarks/run.py --only restore --merge   # re-measure some contenders, keep the other rows
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the entry point sets the path for every module here: measure.py borrows the tests' harness (support: the throwaway
# cluster, the sample project), and the siblings must import each other also when run.py is imported from elsewhere
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from measure import GROUPS, WORK, Bench, clean_env, ensure_dbbackup, machine  # noqa: E402
from report import NOTES, REPORT, write_report  # noqa: E402
from results import RESULTS_DIR, load_machine, load_results, load_size, save_machine  # noqa: E402
from support.pg import PostgresCluster  # noqa: E402


def publish(notes):
    """RESULTS.md from everything in results/ (this run's sizes and the earlier ones), echoed to stdout."""
    results, info = load_results()
    write_report(results, info, notes)
    print(REPORT.read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="MB of business data of the wide shape, comma-separated")
    parser.add_argument(
        "--narrow-sizes", default="12,48", help="MB of row data of the narrow shape (48: 1.2 M checkouts)"
    )
    parser.add_argument("--shapes", default="wide,narrow", help="shapes to run, of wide,narrow")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-rounds", default="", help="per-size rounds overriding --rounds, e.g. 100=2,1000=1")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"groups to run, of {','.join(GROUPS)}")
    parser.add_argument("--report-only", action="store_true", help="rewrite RESULTS.md from results/*.json")
    parser.add_argument(
        "--merge", action="store_true", help="replace only the contenders run now in results/*-N.json, keep the rest"
    )
    args = parser.parse_args()
    # make bench in the background ignores SIGINT: SIGTERM must still stop the cluster and remove its files
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    notes = NOTES.read_text() if NOTES.exists() else ""
    if args.report_only:
        publish(notes)
        return
    shapes = [s for s in args.shapes.split(",") if s]
    sizes = {"wide": args.sizes, "narrow": args.narrow_sizes}
    runs = [(shape, int(size)) for shape in shapes for size in sizes[shape].split(",") if size]
    only = set(args.only.split(","))
    dbbackup_version = ensure_dbbackup() if "dbbackup" in only else None
    RESULTS_DIR.mkdir(exist_ok=True)
    WORK.mkdir(exist_ok=True)
    first = load_machine() if args.merge else None  # --merge: the first run's machine stays the report's
    with PostgresCluster() as pg:
        env = clean_env(pg)
        info = machine(pg)
        info["dbbackup"] = dbbackup_version
        if first is None:
            save_machine(info)  # now already: an interrupted run still leaves a report that can be written
        for shape, size in runs:
            per_size = dict(item.split("=") for item in args.size_rounds.split(",") if item)
            rounds = int(per_size.get(str(size), args.rounds))
            bench = Bench(pg, size, rounds, env, shape)
            if args.merge:
                bench.merge_into = load_size(size, shape)
            bench.meta["engine_commit"] = info["engine_commit"]
            bench.meta["started"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            bench.run(only)
            pg.drop_database(bench.db)
            pg.drop_database(bench.template)
            shutil.rmtree(bench.dir, ignore_errors=True)
        info["loadavg_end"] = os.getloadavg()
    save_machine(info, first)
    publish(notes)


if __name__ == "__main__":
    main()
