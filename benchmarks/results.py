"""benchmarks/results/: the measured runs on disk, the one place that knows their layout.

measure.py writes a size-N.json per size of the wide shape and a narrow-N.json per size of the narrow one (after every
round), run.py writes machine.json, report.py reads both back: the report can be rewritten from them at any time
(`run.py --report-only`) without measuring again.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MACHINE = RESULTS_DIR / "machine.json"

# Every contender key a size-N.json may hold, in the order of the report's rows, with the row's label.
LABELS = {
    "raw": "raw `pg_dump \\| gzip`",
    "old_changed": "old pipeline, business change",
    "old_sessions": "old pipeline, sessions only",
    "dbbackup": "django-dbbackup `--compress`",
    "dumpdata": "one `dumpdata auth checkouts`",
    "ours_changed": "**ours, business change**",
    "ours_unchanged": "**ours, nothing changed**",
    "ours_sessions": "**ours, sessions only**",
    "ours_busy": "**ours, busy site unchanged** (a session row between runs)",
    "ours_idle": "**ours, idle** (S3 configured, probed within the hour)",
    "startup_status": "start-up: ours `status`",
    "restore_psql": "restore: `psql -1 -f` (SQL extracted)",
    "restore_ours": "**restore: ours `--mode sql`**",
    "restore_ours_path": "restore: ours, `--archive PATH`",
}
ORDER = list(LABELS)
SHAPES = ("wide", "narrow")  # the order of the report's sections
_PREFIX = {"wide": "size", "narrow": "narrow"}


def _write(path, doc):
    path.write_text(json.dumps(doc, indent=1) + "\n")


def _size_file(size, shape="wide"):
    return RESULTS_DIR / f"{_PREFIX[shape]}-{size}.json"


def shape_of(result):
    """The shape of a result (wide when it was measured before shapes were)."""
    return result.get("shape", "wide")


def load_size(size, shape="wide"):
    """The earlier result for a size (`--merge` keeps its rows), or None."""
    path = _size_file(size, shape)
    return json.loads(path.read_text()) if path.exists() else None


def save_size(size, meta, runs, merge_into=None, shape="wide"):
    """Write one size's result; with merge_into (an earlier result), only the contenders measured now replace its."""
    result = {"size_mb": size, "shape": shape, "meta": meta, "runs": runs}
    if merge_into:
        # an earlier run's rows, with this run's contenders replaced (say so in the report)
        base = json.loads(json.dumps(merge_into))
        base["runs"].update({key: rows for key, rows in runs.items() if rows})
        note = {k: meta.get(k) for k in ("engine_commit", "started", "rounds_done")}
        note["contenders"] = sorted(key for key, rows in runs.items() if rows)
        merged = [m for m in base["meta"].get("merged", []) if m["contenders"] != note["contenders"]]
        base["meta"]["merged"] = [*merged, note]
        result = base
    _write(_size_file(size, shape), result)
    return result


def load_machine():
    """The machine.json of an earlier run (`--merge` keeps it as the machine of the report), or None."""
    return json.loads(MACHINE.read_text()) if MACHINE.exists() else None


def save_machine(info, first=None):
    """Write this run's machine; when merging into a first run, that run's machine stays with this one noted beside."""
    if first is not None:
        later = {k: info[k] for k in ("date", "engine_commit", "loadavg_start", "loadavg_end")}
        info = {**first, "later_runs": [*first.get("later_runs", []), later]}
    _write(MACHINE, info)


def load_results():
    info = json.loads(MACHINE.read_text())
    results = []
    for prefix in _PREFIX.values():
        results += [json.loads(path.read_text()) for path in RESULTS_DIR.glob(f"{prefix}-*.json")]
    results.sort(key=lambda r: (SHAPES.index(shape_of(r)), r["size_mb"]))
    return results, info
