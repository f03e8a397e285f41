"""The Prometheus textfile metrics: one file for the three scheduled jobs, rendered whole from state.json.

Names follow the Prometheus naming guide: counters end in `_total`, durations in `_seconds`, times in
`_timestamp_seconds`, sizes in `_bytes`; `checkniner_backup_build_info{version}` is 1. The file is rewritten whole
(atomically) under the run lock by whichever job ended, so one job's rewrite never drops another's series; the
counters live in state.json for that reason (a textfile has no memory of its own). monitoring/ builds its alert rules
and its dashboard on these names only (tests/unit/test_monitoring.py holds them to it).
"""

import datetime as dt

from . import __version__
from .fsutil import atomic_write_bytes
from .state import JOB_COUNTERS

PREFIX = "checkniner_backup_"
RESULTS = ("saved", "unchanged", "failed", "busy")
RUN_COUNTED = ("saved", "unchanged", "failed")  # a busy run does nothing and records nothing: the holder counts
JOB_RESULTS = {"drill": ("passed", "failed"), "prune": ("pruned", "failed")}
JOBS = (("drill", "restore drill (verify)"), ("prune", "retention run (prune)"))


def _ts(iso):
    if not iso:
        return None
    return dt.datetime.fromisoformat(iso).timestamp()


def _escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Text:
    """The exposition being written: one HELP and TYPE per family, then its samples with the file's labels."""

    def __init__(self, labels):
        self.labels = [f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())]
        self.lines = []

    def add(self, name, kind, help_text, value, by=None):
        """value: a number (one sample), or {label value: number} with `by` the label's name. None writes nothing."""
        if value is None:
            return
        self.lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} {kind}"]
        samples = value.items() if isinstance(value, dict) else [(None, value)]
        for key, val in samples:
            labels = self.labels + ([f'{by}="{_escape(key)}"'] if key is not None else [])
            self.lines.append(f"{PREFIX}{name}{{{','.join(labels)}}} {val}")

    def gauge(self, name, help_text, value, by=None):
        self.add(name, "gauge", help_text, value, by)

    def counter(self, name, help_text, value, by=None):
        self.add(name, "counter", help_text, value, by)

    def text(self):
        return "\n".join(self.lines) + "\n"


def metrics_text(state, labels, result=None, destinations=()):
    """The Prometheus text exposition (textfile collector format) of every job state.json remembers. result: the run
    that just ended (its outcome, duration and pending count win over the state's record; state may then be None: a
    run that failed before it could read the state). destinations: the configured destinations' names, each with an
    unauthenticated-objects gauge (0 until prune has counted)."""
    out = _Text(labels)
    out.gauge("build_info", "1, labelled with the engine's version.", {__version__: 1}, by="version")
    last_run = dict((state.last_run if state else None) or {})
    if result is not None:
        last_run.update(outcome=result.outcome, duration=round(result.duration, 3), pending=result.pending)
        if state is None:  # nothing recorded it: it ended now
            last_run["at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    _run_series(out, state, last_run)
    for job, what in JOBS:
        _job_series(out, state, job, what)
    _destination_series(out, state, destinations)
    return out.text()


def _run_series(out, state, last_run):
    out.gauge("last_run_timestamp_seconds", "When the last run ended (Unix time).", _ts(last_run.get("at")))
    out.gauge(
        "last_success_timestamp_seconds", "When the last successful run ended.", _ts(state and state.last_success)
    )
    out.gauge("last_change_timestamp_seconds", "When the last new archive was saved.", _ts(state and state.last_change))
    out.gauge("last_archive_size_bytes", "Size of the newest archive.", state.last.get("size") if state else None)
    out.gauge("run_duration_seconds", "Duration of the last run.", last_run.get("duration"))
    out.gauge("pending_uploads", "Archives waiting for upload, all destinations.", last_run.get("pending"))
    if last_run.get("outcome"):
        results = {r: int(r == last_run["outcome"]) for r in RESULTS}
        out.gauge("last_run_result", "1 for the outcome of the last run, 0 for the others.", results, by="result")
    if not _counting(state):
        return
    counts = state.counters
    runs = {r: counts.get("runs", {}).get(r, 0) for r in RUN_COUNTED}
    out.counter("runs_total", "Runs that ended, by result.", runs, by="result")
    out.counter("archives_saved_total", "New archives saved.", counts.get("archives_saved", 0))
    out.counter("uploads_total", "Archives uploaded, all destinations.", counts.get("uploads", 0))
    out.counter(
        "upload_failures_total",
        "Runs in which a destination could not be served (an upload or its probe failed).",
        counts.get("upload_failures", 0),
    )


def _counting(state):
    """Counters come from a backup directory's state.json: a drill on a host without one (a restore host) remembers
    nothing between runs, and a counter that restarts at 1 on every drill would only mislead."""
    return state is not None and state.bdir is not None


def _job_series(out, state, job, what):
    record, success = state.job(job) if state else ({}, None)
    if record:
        out.gauge(f"{job}_last_run_timestamp_seconds", f"When the last {what} ended.", _ts(record.get("at")))
        out.gauge(f"{job}_last_success_timestamp_seconds", f"When the last successful {what} ended.", _ts(success))
        results = {r: int(r == record.get("outcome")) for r in JOB_RESULTS[job]}
        out.gauge(f"{job}_last_result", f"1 for the outcome of the last {what}, 0 for the others.", results, "result")
    if not _counting(state):
        return
    # counted from the first job on; an older state file has none yet, and starts them at 0
    counted = state.counters.get(JOB_COUNTERS[job], {})
    runs = {r: counted.get(r, 0) for r in JOB_RESULTS[job]}
    out.counter(f"{JOB_COUNTERS[job]}_total", f"Each {what} that ended, by result.", runs, by="result")
    if job == "prune":
        out.counter(
            "pruned_archives_total", "Archives prune deleted, all locations.", state.counters.get("pruned_archives", 0)
        )


def _destination_series(out, state, destinations):
    if state is None:  # a run that could not read its state knows nothing of them: a 0 would resolve the alert
        return
    found = state.unauthenticated
    names = list(dict.fromkeys([*destinations, *found]))
    if not names:
        return
    out.gauge(
        "unauthenticated_objects",
        "Objects in a destination that no trusted signature vouches for (listed by prune, never deleted).",
        {name: found.get(name, 0) for name in names},
        by="destination",
    )


def write_metrics(config, state, result=None):
    """Rewrite the metrics file (when one is configured), atomically. Returns a list of warnings."""
    if not config.metrics_file:
        return []
    labels = {"database": config.database.name} if config.database else {}
    destinations = [d.name for d in getattr(config, "destinations", None) or ()]
    try:
        text = metrics_text(state, labels, result, destinations)
        atomic_write_bytes(config.metrics_file, text.encode(), mode=0o644)
    except OSError as exc:
        return [f"cannot write metrics file {config.metrics_file}: {exc.strerror}"]
    return []
