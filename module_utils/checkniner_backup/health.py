"""Heartbeats (healthchecks.io style), the Prometheus textfile metrics, and staleness: how an unattended job is watched.

Nothing here may fail a backup: every error is swallowed into a warning line on stderr.
"""

import datetime as dt
import sys
from urllib.parse import unquote, urlsplit

from .fsutil import atomic_write_bytes

TIMEOUT = 5
RESULTS = ("saved", "unchanged", "failed", "busy")


def heartbeat_url(base, result):
    """saved and unchanged are successes (the base URL); a failure (a saved archive that could not be uploaded
    included) goes to <base>/fail, healthchecks.io style. The outcome travels in the body and a header."""
    base = base.rstrip("/")
    return f"{base}/fail" if result.exit_code != 0 else base


def ping(base, result, timeout=TIMEOUT):
    """POST the run's one line to the heartbeat URL. Returns None, or a warning text when the receiver is away."""
    import http.client
    import urllib.error  # here, not above: urllib.request costs every command ~45 ms of start-up, restores included
    import urllib.request

    url = heartbeat_url(base, result)
    body = result.line().encode("utf-8")[:10000]
    try:  # the Request too: a URL without a scheme is a ValueError that quotes it
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "text/plain; charset=utf-8",
                "User-Agent": "checkniner-backup",
                "X-Checkniner-Outcome": result.outcome,
            },
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the operator's own URL
            response.read(1024)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:  # InvalidURL: user:pass@
        reason = getattr(exc, "reason", exc)
        return f"heartbeat to {_safe(url)} failed: {_scrub(str(reason), url)}"
    return None


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


def metrics_text(state, result, labels):
    """The Prometheus text exposition of the last run (textfile collector format). state: the State the run saved,
    None when it could not read one."""
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

    last_run = (state.last_run if state else None) or {}
    gauge("last_run_timestamp_seconds", "When the last run ended (Unix time).", _ts(last_run.get("at")))
    gauge("last_success_timestamp_seconds", "When the last successful run ended.", _ts(state and state.last_success))
    gauge("last_change_timestamp_seconds", "When the last new archive was saved.", _ts(state and state.last_change))
    gauge("last_archive_size_bytes", "Size of the newest archive.", state.last.get("size") if state else None)
    gauge("run_duration_seconds", "Duration of the last run.", round(result.duration, 3))
    gauge("pending_uploads", "Archives waiting in the outbox, all destinations.", result.pending)
    gauge(
        "last_run_result",
        "1 for the outcome of the last run, 0 for the others.",
        {r: int(r == result.outcome) for r in RESULTS},
        extra="result",
    )
    return "\n".join(lines) + "\n"


def _escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def after_run(config, result, state):
    """Report a finished run: metrics file first (local, cheap), then the heartbeat. Never raises."""
    warnings = []
    if config.metrics_file:
        try:
            text = metrics_text(state, result, {"database": config.database.name})
            atomic_write_bytes(config.metrics_file, text.encode(), mode=0o644)
        except OSError as exc:
            warnings.append(f"cannot write metrics file {config.metrics_file}: {exc.strerror}")
    if config.healthcheck_url and result.outcome != "busy":
        warning = ping(config.healthcheck_url, result)
        if warning:
            warnings.append(warning)
    for warning in warnings:
        sys.stderr.write(f"checkniner-backup: warning: {warning}\n")
    return warnings


def staleness(last, schedule_minutes, now=None):
    """A backup is stale when no run succeeded within three schedule periods. last: when the last one did (ISO)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    limit = 3 * schedule_minutes * 60
    if not last:
        return {"stale": True, "seconds_since_success": None, "limit_seconds": limit}
    age = (now - dt.datetime.fromisoformat(last)).total_seconds()
    return {"stale": age > limit, "seconds_since_success": round(age, 1), "limit_seconds": limit}
