"""Where the time goes: py-spy over `checkniner-backup run` (changed, sessions only) and `restore --mode sql`.

Starts its own throwaway cluster, seeds N MB of one shape (seed_bulk --shape), and records each command with `py-spy
record --subprocesses` (the engine and its Django helper), collapsed stacks under benchmarks/.work/ (flamegraph.pl or
speedscope read them); the top inclusive/self frames of each go to benchmarks/results/profile-*.txt and stdout.

    .venv/bin/python benchmarks/profile_run.py [--megabytes 30] [--shape wide|narrow]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.django_project import MANAGE_PY, SETTINGS_MODULE, manage, migrate, seed  # noqa: E402
from support.pg import PostgresCluster  # noqa: E402


def py_spy():
    path = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not path:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
        path = str(Path(sys.executable).parent / "py-spy")
    return path


def _short(frame):
    """'func (path/to/file.py:12)' -> 'func (file.py)'; process frames stay as they are."""
    func, _, where = frame.partition(" (")
    return f"{func} ({where.split(':')[0].rsplit('/', 1)[-1]}" if where else func


def summarize(path, top=18):
    """Inclusive share of each frame (function (file)) over all samples, and self share of leaf frames."""
    inclusive, leaf = collections.Counter(), collections.Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += n
        leaf[frames[-1]] += n
    out = [f"{total} samples"]
    out += ["inclusive:"] + [f"  {n / total * 100:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    out += ["self:"] + [f"  {n / total * 100:5.1f}%  {f}" for f, n in leaf.most_common(top)]
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=30.0)
    parser.add_argument("--shape", default="wide", choices=("wide", "narrow"))
    args = parser.parse_args()
    spy = py_spy()
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    with PostgresCluster() as pg, tempfile.TemporaryDirectory(prefix="cnb-prof-") as tmp:
        pg.create_database("prof")
        url = pg.app_url("prof")
        migrate(url)
        seed(url)
        manage(["seed_bulk", "--megabytes", str(args.megabytes), "--shape", args.shape], url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "S3_", "AWS_", "CHECKNINER_"))}
        env.update(
            PATH=f"{pg.bindir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            DATABASE_URL=url,
            CHECKNINER_BACKUP_DIR=os.path.join(tmp, "b"),
            DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
            CHECKNINER_MANAGE_PY=str(MANAGE_PY),
            CHECKNINER_DJANGO_PYTHON=sys.executable,
        )
        cli = str(Path(sys.executable).parent / "checkniner-backup")
        subprocess.run([cli, "run"], env=env, check=True, capture_output=True)
        cases = [
            ("changed", "UPDATE checkouts_airstrip SET name = name || '.' WHERE id = 1;", [cli, "run"], {}),
            ("sessions", None, [cli, "run"], {}),
            ("restore", None, [cli, "restore", "--mode", "sql"], {"target": "prof_restore"}),
        ]
        for name, sql, argv, opts in cases:
            if sql:
                pg.psql(sql, db="prof", as_superuser=False)
            if name == "sessions":
                manage(["touch_sessions"], url)
            run_env = dict(env)
            if opts.get("target"):
                run_env["CHECKNINER_RESTORE_TARGET_DATABASE_URL"] = pg.app_url(opts["target"])
            (HERE / ".work").mkdir(exist_ok=True)
            out = HERE / ".work" / f"profile-{name}.collapsed"
            subprocess.run(
                [spy, "record", "--subprocesses", "--rate", "200", "--format", "raw", "--output", str(out),
                 "--", *argv],
                env=run_env, check=True, capture_output=True,
            )  # fmt: skip
            text = f"## {name} ({args.megabytes:g} MB, {args.shape} shape)\n{summarize(out)}\n"
            (results / f"profile-{name}.txt").write_text(text)
            print(text, flush=True)


if __name__ == "__main__":
    main()
