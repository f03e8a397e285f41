"""Heartbeats (healthchecks.io style), the Prometheus textfile metrics, and staleness: how unattended jobs are watched.

Every scheduled job reports: `run` (CHECKNINER_BACKUP_HEALTHCHECK_URL), the restore drill `verify`
(CHECKNINER_VERIFY_HEALTHCHECK_URL) and `prune` (CHECKNINER_PRUNE_HEALTHCHECK_URL). Success pings the URL, failure
URL/fail, with the job's one line in the body. One metrics file holds the three jobs' series; it is rendered whole
from state.json under the run lock, so one job's rewrite never drops another's series.

Nothing here may fail a job: every error becomes a warning line for the front door to print.
"""

import datetime as dt
import os
from urllib.parse import unquote, urlsplit, urlunsplit

from . import state as state_mod
from .database_url import ENCODE_CREDENTIALS, credentials_spill
from .errors import BackupError, Busy, describe
from .fsutil import atomic_write_bytes
from .local import BackupDir
from .state import State

TIMEOUT = 5
RESULTS = ("saved", "unchanged", "failed", "busy")
JOB_RESULTS = {"drill": ("passed", "failed"), "prune": ("pruned", "failed")}
DRILL_STALE_SECONDS = 2 * 86400  # the drill runs daily: two days without a passed drill is one missed day too many


def heartbeat_url(base, ok):
    """A success goes to the base URL; a failure (a saved archive that could not be uploaded included) to
    <base>/fail, healthchecks.io style."""
    base = base.rstrip("/")
    return base if ok else f"{base}/fail"


def ping(base, ok, line, outcome, timeout=TIMEOUT):
    """POST the job's one line to the heartbeat URL. Returns None, or a warning text when the receiver is away; the
    warning never holds the URL's secret parts (_safe, _scrub)."""
    import http.client
    import urllib.error  # here, not above: urllib.request costs every command ~45 ms of start-up, restores included
    import urllib.request

    url = heartbeat_url(base, ok)
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "User-Agent": "checkniner-backup",
        "X-Checkniner-Outcome": outcome,
    }
    if _credentials_spill(url):
        return (
            "heartbeat not sent: its URL cannot be parsed (part of its user:password@ ends up in the path, query or"
            f" fragment): {ENCODE_CREDENTIALS}"
        )
    try:  # the Request too: a URL without a scheme is a ValueError that quotes it
        target, authorization = _split_credentials(url)
        if authorization:
            headers["Authorization"] = authorization
        request = urllib.request.Request(target, data=line.encode("utf-8")[:10000], method="POST", headers=headers)
        with _opener().open(request, timeout=timeout) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:  # where it points may hold a secret too: not named
            return f"heartbeat to {_safe(url)} failed: HTTP {exc.code} redirect, not followed: set the URL it points to"
        return f"heartbeat to {_safe(url)} failed: {_scrub(str(exc.reason), url)}"
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:  # InvalidURL: user:pass@
        reason = getattr(exc, "reason", exc)
        return f"heartbeat to {_safe(url)} failed: {_scrub(str(reason), url)}"
    return None


def _opener():
    """urllib without redirects: it would follow a 301/302/303 to any host with the Authorization header (the
    basic-auth password), turning the POST into a GET without the job's line, and count that as delivered."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None  # urllib then raises the 3xx as an HTTPError

    return urllib.request.build_opener(NoRedirect)


def _credentials_spill(url):
    """database_url.credentials_spill for a heartbeat URL (https://u:pa/ss@host/ping): sent as it is, it would go to
    host 'u' with the password in its path, and any error would quote it."""
    try:
        return credentials_spill(urlsplit(url))
    except ValueError:
        return False  # ping's own handling: a fixed warning that quotes nothing


def _split_credentials(url):
    """(url without user:password@, its Basic Authorization header or None). urllib sends no credentials from the
    URL itself: it takes "user:password@host" for the host and fails, so a receiver behind basic auth (a self-hosted
    healthchecks, a push gateway behind a proxy) would never hear from us."""
    import base64

    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=host)), f"Basic {token}"


def _safe(url):
    """The heartbeat URL without its secret parts: basic-auth credentials (user:password@) and the path
    (healthchecks.io puts the check's UUID there) are dropped; scheme://host[:port]/... is left."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "the heartbeat URL"
    if not parts.scheme or not host:
        return "the heartbeat URL"
    return f"{parts.scheme}://{host}/..." if parts.path.strip("/") or parts.query else f"{parts.scheme}://{host}"


def _scrub(text, url):
    """`text` (an error's words, which may quote the URL: "nonnumeric port: 'password@host'") without any part of
    the URL that may be secret: the URL itself, its user, password, path and query, as written and decoded."""
    secrets = {url}
    try:
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        secrets |= {userinfo, *userinfo.split(":", 1), parts.path, parts.path.strip("/"), parts.query}
        if not url.startswith(f"{parts.scheme}://"):  # no scheme: urlsplit took the user for one
            secrets.add(parts.scheme)
    except ValueError:
        pass
    secrets |= {unquote(secret) for secret in secrets}
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) > 1:  # one character (a '/' path) would garble the text, and hides nothing
            text = text.replace(secret, "...")
    return text


def _ts(iso):
    if not iso:
        return None
    return dt.datetime.fromisoformat(iso).timestamp()


def metrics_text(state, labels, result=None):
    """The Prometheus text exposition (textfile collector format) of every job state.json remembers. result: the run
    that just ended (its outcome, duration and pending count win over the state's record; state may then be None)."""
    label = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    lines = []

    def gauge(name, help_text, value, extra=""):
        if value is None:
            return
        lines.append(f"# HELP checkniner_backup_{name} {help_text}")
        lines.append(f"# TYPE checkniner_backup_{name} gauge")
        if isinstance(value, dict):
            for key, val in value.items():
                lines.append(f'checkniner_backup_{name}{{{label},{extra}="{key}"}} {val}')
        else:
            lines.append(f"checkniner_backup_{name}{{{label}}} {value}")

    last_run = dict((state.last_run if state else None) or {})
    if result is not None:
        last_run.update(outcome=result.outcome, duration=round(result.duration, 3), pending=result.pending)
    gauge("last_run_timestamp_seconds", "When the last run ended (Unix time).", _ts(last_run.get("at")))
    gauge("last_success_timestamp_seconds", "When the last successful run ended.", _ts(state and state.last_success))
    gauge("last_change_timestamp_seconds", "When the last new archive was saved.", _ts(state and state.last_change))
    gauge("last_archive_size_bytes", "Size of the newest archive.", state.last.get("size") if state else None)
    gauge("run_duration_seconds", "Duration of the last run.", last_run.get("duration"))
    gauge("pending_uploads", "Archives waiting for upload, all destinations.", last_run.get("pending"))
    if last_run.get("outcome"):
        outcome = last_run["outcome"]
        results = {r: int(r == outcome) for r in RESULTS}
        gauge("last_run_result", "1 for the outcome of the last run, 0 for the others.", results, extra="result")
    for job, what in (("drill", "restore drill (verify)"), ("prune", "retention run (prune)")):
        record, success = state.job(job) if state else ({}, None)
        if not record:
            continue
        gauge(f"{job}_last_run_timestamp_seconds", f"When the last {what} ended.", _ts(record.get("at")))
        gauge(f"{job}_last_success_timestamp_seconds", f"When the last successful {what} ended.", _ts(success))
        results = {r: int(r == record.get("outcome")) for r in JOB_RESULTS[job]}
        gauge(f"{job}_last_result", f"1 for the outcome of the last {what}, 0 for the others.", results, "result")
        if job == "prune":  # objects left because they do not authenticate: planted, unsigned, copied (heads.py)
            gauge("prune_unauthenticated_objects", "Objects the last prune left: they do not authenticate.",
                  record.get("unauthenticated"))  # fmt: skip
    return "\n".join(lines) + "\n"


def _escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def write_metrics(config, state, result=None):
    """Rewrite the metrics file (when one is configured). Returns a list of warnings."""
    if not config.metrics_file:
        return []
    labels = {"database": config.database.name} if config.database else {}
    try:
        text = metrics_text(state, labels, result)
        atomic_write_bytes(config.metrics_file, text.encode(), mode=0o644)
    except OSError as exc:
        return [f"cannot write metrics file {config.metrics_file}: {exc.strerror}"]
    return []


def after_run(config, result):
    """The run's heartbeat (its metrics were written under the lock). A busy run does not ping: the holder will."""
    if not config.healthcheck_url or result.outcome == "busy":
        return []
    warning = ping(config.healthcheck_url, result.exit_code == 0, result.line(), result.outcome)
    return [warning] if warning else []


def after_job(config, job, line, record):
    """Report a drill or prune that ended. record {outcome, ...} (outcome passed | pruned | busy | failed) goes into
    state.json under the run lock when there is a backup directory (the drill also runs where there is none; a busy
    prune did nothing and is not recorded), then the metrics file is rewritten and the job's heartbeat sent: the URL
    on success (busy included: the next one prunes), URL/fail with `line` in the body on failure.
    Returns a list of warnings; never raises."""
    ok = record["outcome"] != "failed"
    warnings = [] if record["outcome"] == "busy" else _record_job(config, job, ok, record)
    url = config.verify_healthcheck_url if job == "drill" else config.prune_healthcheck_url
    if url:
        warning = ping(url, ok, line, record["outcome"])
        if warning:
            warnings.append(warning)
    return warnings


def after_failed_job(config, job, exc, record):
    """Report a drill or prune that raised `exc`: after_job with outcome failed and the error's one line (record: the
    job's other fields). The report's warnings ride on the error, when it is the engine's, for the front door."""
    line = describe(exc)[0]
    warnings = after_job(config, job, f"failed: {line}", {**record, "outcome": "failed", "error": line})
    if isinstance(exc, BackupError):
        exc.warnings += warnings


def _record_job(config, job, ok, record):
    path = config.backup_dir
    if not path or not os.path.isdir(path):
        state = State(None)  # no backup directory here: nothing to remember, the metrics say this job only
        state.record_job(job, record, ok)
        return write_metrics(config, state)
    bdir = BackupDir(path, create=False)
    try:
        with state_mod.locked(bdir, nothing_done=f"the {job}'s outcome not recorded") as state:
            state.record_job(job, record, ok)
            state.save()
            return state.warnings + write_metrics(config, state)
    except Busy as exc:
        return [str(exc)]
    except OSError as exc:
        return [f"cannot record the {job} in {bdir.join('state.json')}: {exc.strerror}"]


def staleness(last, limit, now=None):
    """A job is stale when none succeeded within `limit` seconds. last: when the last one did (ISO)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if not last:
        return {"stale": True, "seconds_since_success": None, "limit_seconds": limit}
    age = (now - dt.datetime.fromisoformat(last)).total_seconds()
    return {"stale": age > limit, "seconds_since_success": round(age, 1), "limit_seconds": limit}
