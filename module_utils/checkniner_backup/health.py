"""Heartbeats (healthchecks.io style), the Prometheus textfile metrics (metrics.py), and staleness: how unattended
jobs are watched.

Every scheduled job reports: `run` (CHECKNINER_BACKUP_HEALTHCHECK_URL), the restore drill `verify`
(CHECKNINER_VERIFY_HEALTHCHECK_URL) and `prune` (CHECKNINER_PRUNE_HEALTHCHECK_URL). The job pings URL/start before
its work, then the URL on success or URL/fail on failure, both with the same ?rid= run ID, the job's log (its line
first) in the body; every ping has a whole deadline (notify.DEADLINE). Failures and recoveries also notify people
(notify.py, CHECKNINER_NOTIFY_URLS). One metrics file holds the three jobs' series; it is rendered whole
from state.json under the run lock, so one job's rewrite never drops another's series.

Nothing here may fail a job: every error becomes a warning line for the front door to print.
"""

import datetime as dt
import os
from urllib.parse import unquote, urlsplit, urlunsplit

from . import state as state_mod
from .database_url import ENCODE_CREDENTIALS, credentials_spill
from .errors import BackupError, Busy, describe
from .local import BackupDir
from .metrics import write_metrics  # the jobs' reports below rewrite the file; backup/command.py calls it here too
from .state import State

TIMEOUT = 5  # seconds per socket read; the whole request has notify.DEADLINE
BODY_LIMIT = 100_000  # bytes of the job's log a heartbeat carries (healthchecks.io's limit)
DRILL_STALE_SECONDS = 2 * 86400  # the drill runs daily: two days without a passed drill is one missed day too many


def heartbeat_url(base, ok, rid=None, signal=None):
    """A success goes to the base URL; a failure (a saved archive that could not be uploaded included) to
    <base>/fail, the job's start to <base>/start (signal "start"), healthchecks.io style; with the job's run ID as
    ?rid=, so the receiver pairs the start with its end however runs overlap."""
    base = base.rstrip("/")
    url = f"{base}/{signal}" if signal else (base if ok else f"{base}/fail")
    if rid:
        url += f"{'&' if urlsplit(url).query else '?'}rid={rid}"
    return url


def new_rid():
    """A job's run ID: a UUID, as healthchecks.io takes it."""
    import uuid

    return str(uuid.uuid4())


def ping(base, ok, line, outcome, timeout=TIMEOUT, rid=None, signal=None, deadline=None):
    """POST the job's log (its one line first; the last BODY_LIMIT bytes) to the heartbeat URL, within a whole
    deadline (notify.DEADLINE) however slowly the receiver answers. Returns None, or a warning text when the receiver
    is away; the warning never holds the URL's secret parts (_safe, _scrub)."""
    from . import notify

    url = heartbeat_url(base, ok, rid, signal)
    if _credentials_spill(url):
        return (
            "heartbeat not sent: its URL cannot be parsed (part of its user:password@ ends up in the path, query or"
            f" fragment): {ENCODE_CREDENTIALS}"
        )
    deadline = notify.DEADLINE if deadline is None else deadline
    if notify.is_late(url):  # its /start went unanswered: its end would too
        return f"heartbeat to {_safe(url)} not sent: it did not answer within {deadline:g} s earlier in this job"
    try:
        return notify.within(deadline, _post, url, line, outcome, timeout)
    except notify.Late as exc:
        notify.was_late(url)
        return f"heartbeat to {_safe(url)} failed: {exc}"


def _post(url, line, outcome, timeout):
    import http.client
    import urllib.error  # here, not above: urllib.request costs every command ~45 ms of start-up, restores included
    import urllib.request

    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "User-Agent": "checkniner-backup",
        "X-Checkniner-Outcome": outcome,
    }
    data = line.encode("utf-8")
    if len(data) > BODY_LIMIT:  # the end of the log says most: healthchecks.io keeps the first 100 kB it gets
        tail = data[-BODY_LIMIT:]
        data = tail[tail.find(b"\n") + 1 :]  # whole lines only (and never half a UTF-8 character)
    try:  # the Request too: a URL without a scheme is a ValueError that quotes it
        target, authorization = _split_credentials(url)
        if authorization:
            headers["Authorization"] = authorization
        request = urllib.request.Request(target, data=data, method="POST", headers=headers)
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


def job_log(config, line, warnings=(), trace=None):
    """The body of a job's heartbeat: the log lines the job leaves (its one line, its warnings, a bug's traceback),
    without any secret the configuration holds."""
    from . import notify

    lines = [line, *(f"warning: {w}" for w in warnings)]
    text = "\n".join(lines) + (f"\n{trace.rstrip()}" if trace else "")
    return notify.redact(config, text)


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


def start(url, rid):
    """The job's /start ping (healthchecks.io measures the job's duration from it, and flags one that never ends).
    Returns a list of warnings."""
    if not url:
        return []
    warning = ping(url, True, "", "start", rid=rid, signal="start")
    return [warning] if warning else []


def after_run(config, result, rid=None):
    """The run's heartbeat (its metrics were written under the lock), with the rid of its /start. A busy run does not
    ping: the holder will."""
    if not config.healthcheck_url or result.outcome == "busy":
        return []
    body = job_log(config, result.line(), result.warnings, result.traceback)
    warning = ping(config.healthcheck_url, result.exit_code == 0, body, result.outcome, rid=rid)
    return [warning] if warning else []


def after_job(config, job, line, record, rid=None, warnings=(), trace=None):
    """Report a drill or prune that ended. record {outcome, ...} (outcome passed | pruned | busy | failed) goes into
    state.json under the run lock when there is a backup directory (the drill also runs where there is none; a busy
    prune did nothing and is not recorded), CHECKNINER_NOTIFY_URLS hear of a failure or a recovery (notify.report),
    then the metrics file is rewritten and the job's heartbeat sent with the rid of its /start: the URL on success
    (busy included: the next one prunes), URL/fail on failure, the job's log (job_log) in the body.
    Returns a list of warnings; never raises."""
    ok = record["outcome"] != "failed"
    reported = [] if record["outcome"] == "busy" else _record_job(config, job, ok, record, line)
    url = config.verify_healthcheck_url if job == "drill" else config.prune_healthcheck_url
    if url:
        warning = ping(url, ok, job_log(config, line, [*warnings, *reported], trace), record["outcome"], rid=rid)
        if warning:
            reported.append(warning)
    return reported


def after_failed_job(config, job, exc, record, rid=None):
    """Report a drill or prune that raised `exc`: after_job with outcome failed and the error's one line (record: the
    job's other fields). The report's warnings ride on the error, when it is the engine's, for the front door."""
    line, _, trace = describe(exc)
    warnings = after_job(
        config, job, f"failed: {line}", {**record, "outcome": "failed", "error": line}, rid,
        getattr(exc, "warnings", ()), trace,
    )  # fmt: skip
    if isinstance(exc, BackupError):
        exc.warnings += warnings


def _record_job(config, job, ok, record, line):
    from . import notify

    path = config.backup_dir
    if not path or not os.path.isdir(path):
        state = State(None)  # no backup directory here: nothing to remember, the metrics say this job only
        state.record_job(job, record, ok)
        return notify.report(config, None, job, ok, line) + write_metrics(config, state)
    bdir = BackupDir(path, create=False)
    try:
        with state_mod.locked(bdir, nothing_done=f"the {job}'s outcome not recorded") as state:
            state.record_job(job, record, ok)
            # under the lock: two jobs failing at once must not both decide they are the first
            notified = notify.report(config, state, job, ok, line)
            state.save()
            return state.warnings + notified + write_metrics(config, state)
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
