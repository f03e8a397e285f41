"""Notifications through Apprise (CHECKNINER_NOTIFY_URLS): a person hears when a scheduled job (run, verify, prune)
fails, and when it works again; nothing on a routine success.

The rule (decide): the first failure notifies; a failure of the same cause notifies again once a day, not every five
minutes; a failure of another cause notifies at once; the first success after a notified failure notifies
"recovered". What was notified is remembered in state.json (State.notification), under the run lock; where there is
no backup directory (a drill on a restore host) nothing is remembered and every failure notifies.

A notification that cannot be delivered is a warning and a count in state.json (State.count_undelivered), never a
failed job; an undelivered failure is tried again by the next failure. Apprise runs in a child process started only
when a notification is due, so an idle run never pays for its imports, and killed at the deadline. Every ping and
notification has a whole deadline (within, or the child's), whatever the endpoint does.
"""

import datetime as dt
import hashlib
import json
import re
import socket
import subprocess
import sys
import threading
from urllib.parse import parse_qsl, unquote, urlsplit

from . import child_env, health

DEADLINE = 10.0  # seconds a ping or a notification may take in all, however slowly the endpoint answers
REPEAT = dt.timedelta(days=1)  # a failure that keeps its cause is notified again after this long
JOBS = {"run": "backup run", "drill": "restore drill (verify)", "prune": "retention run (prune)"}


class Late(Exception):
    """The call did not end within its deadline (it goes on in a daemon thread that dies with the process)."""


def within(seconds, fn, *args):
    """fn(*args), or Late after `seconds`: a socket timeout bounds each read, not the request, and an endpoint that
    drips one byte every few seconds would hold the job (and the run lock) for as long as it likes."""
    box = {}

    def target():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which decides
            box["error"] = exc

    worker = threading.Thread(target=target, name="checkniner-outbound", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise Late(f"no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


_LATE = set()  # host:port of endpoints that missed a deadline in this process (one job): not asked again


def endpoint(url):
    """host:port of a URL (a heartbeat's, or an Apprise URL, whose json:// and the like name the HTTP server)."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname}:{parts.port or ''}" if parts.hostname else None
    except ValueError:
        return None


def is_late(url):
    """Whether the URL's endpoint missed a deadline earlier in this job: asking it again would spend another
    DEADLINE, and a job that pings /start, its end and a notification would wait three times as long."""
    return endpoint(url) in _LATE - {None}


def was_late(url):
    _LATE.add(endpoint(url))  # None (a URL that does not parse) is never taken for late


def urls(config):
    return (config.notify_urls or "").split()


# -- secrets: no notification and no heartbeat body carries one -------------------------------------------------


def redact(config, text):
    """`text` without any secret the configuration holds: passwords of the database URLs, S3 secret keys, and every
    part of the heartbeat and notification URLs that may be secret (health._scrub). The lines are meant to hold none
    already; this is the second belt."""
    plain = set()
    for database in (config.database,):
        if database is not None and database.password:
            plain.add(database.password)
    for dest in config.destinations:
        if getattr(dest, "secret_key", None):  # a directory destination has none
            plain.add(dest.secret_key)
    for url in (config.restore_target_url, config.verify_database_url):
        if url:
            plain.add(url)
            text = health._scrub(text, url)
    for secret in sorted(plain, key=len, reverse=True):
        if len(secret) > 1:
            text = text.replace(secret, "...")
    for url in (config.healthcheck_url, config.verify_healthcheck_url, config.prune_healthcheck_url, *urls(config)):
        if url:
            text = health._scrub(text, url)
            for part in _segments(url):
                text = text.replace(part, "...")
    return text


def _segments(url):
    """The path segments and query values of a URL long enough to be a token (a check's UUID, an ntfy topic, a
    webhook's key): a text may quote one alone. Short ones ("ping", "hooks") are words, not secrets."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    pieces = [*parts.path.split("/"), *(v for _, v in parse_qsl(parts.query))]
    return sorted({unquote(p) for p in pieces if len(unquote(p)) >= 8}, key=len, reverse=True)


# -- the rule -------------------------------------------------------------------------------------------------------


def cause_of(line):
    """What makes two failures "the same": their line with every number taken out (durations, counts, archive
    names and times change from one run to the next, the cause does not). A digest: state.json keeps no message."""
    return hashlib.sha256(re.sub(r"\d+", "#", line).encode("utf-8")).hexdigest()[:16]


def decide(memory, ok, line, now):
    """(what to notify: "failed" | "recovered" | None, the job's memory if it is delivered, if it is not).

    memory: the job's record from the last time ({} when none): {failing, cause, since, notified}."""
    memory = dict(memory or {})
    if ok:
        if not memory.get("failing"):
            return None, memory, memory
        if not memory.get("notified"):  # nobody heard of the failure: a recovery would be news of nothing
            return None, {}, {}
        return "recovered", {}, memory  # undelivered: kept, so the next success says it
    cause = cause_of(line)
    if memory.get("failing") and memory.get("cause") == cause:
        last = memory.get("notified")
        if last and now - dt.datetime.fromisoformat(last) < REPEAT:
            return None, memory, memory
        failing = memory
    else:
        failing = {"failing": True, "cause": cause, "since": now.isoformat(), "notified": None}
    return "failed", {**failing, "notified": now.isoformat()}, failing


def message(config, job, kind, line, memory, host=None):
    """(title, body) of a notification: the host, the job and its one line, secrets redacted."""
    host = host or socket.gethostname()
    line = line.removeprefix("failed: ")  # the jobs' lines say it; the sentence below says it once
    what = JOBS.get(job, job)
    database = f" (database {config.database.name})" if config.database is not None else ""
    if kind == "failed":
        title = f"checkniner-backup {job} FAILED on {host}"
        body = f"The {what} on {host}{database} failed: {line}"
        if memory.get("since"):
            body += f"\nFailing since {memory['since']}; repeated once a day while the cause stays the same."
    else:
        title = f"checkniner-backup {job} recovered on {host}"
        body = f"The {what} on {host}{database} works again: {line}"
    return redact(config, title), redact(config, body)


# -- delivery -------------------------------------------------------------------------------------------------------


def send(config, title, body, kind, deadline=DEADLINE):
    """Deliver through Apprise to every URL. Returns None, or a warning naming no secret (scheme://host only)."""
    targets = urls(config)
    where = ", ".join(health._safe(url).removesuffix("/...") for url in targets)
    if all(is_late(url) for url in targets):
        return f"notification to {where} not sent: it did not answer within {deadline:g} s earlier in this job"
    targets = [url for url in targets if not is_late(url)]
    request = {"path": sys.path, "urls": targets, "title": title, "body": body, "failure": kind == "failed"}
    try:
        # a child process, killed at the deadline: Apprise sends from a thread pool that the interpreter joins at
        # exit, so a thread left on a dripping endpoint would keep the job alive however early we stop waiting
        done = subprocess.run(
            [sys.executable, "-c", _CHILD], input=json.dumps(request), env=child_env.notifier(config),
            capture_output=True, text=True, timeout=deadline, check=False,
        )  # fmt: skip
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        for url in targets:
            was_late(url)
        return f"notification to {where} not delivered: no answer within {deadline:g} s"
    except (OSError, ValueError, IndexError):
        return f"notification to {where} not delivered: the notifier process failed"
    if answer.get("missing"):
        return "notification not delivered: the apprise package is not installed (pip install apprise)"
    if not answer.get("ok"):
        said = [line for line in answer.get("said", []) if isinstance(line, str)]
        reason = redact(config, said[-1]) if said else "the endpoint refused it or could not be reached"
        return f"notification to {where} not delivered: {reason}"
    return None


# What the notifier process runs: the request (the URLs, secret, never in argv) on stdin, one JSON answer on stdout.
_CHILD = """
import json, logging, sys
request = json.loads(sys.stdin.read())
sys.path[:0] = request["path"]
try:
    import apprise  # ~0.5 s of imports: a routine success never starts this process
except ImportError:
    print(json.dumps({"missing": True}))
    sys.exit(0)
box, said = apprise.Apprise(), []
unknown = [url for url in request["urls"] if not box.add(url)]
if unknown:  # the URL itself is never quoted: its path or password may be the secret
    said.append(f"{len(unknown)} of the URLs is not one Apprise understands (its scheme://...)")
    print(json.dumps({"ok": False, "said": said}))
    sys.exit(0)

class Said(logging.Handler):
    def emit(self, record):
        said.append(record.getMessage())

logging.getLogger("apprise").addHandler(Said(logging.WARNING))
kind = apprise.NotifyType.FAILURE if request["failure"] else apprise.NotifyType.SUCCESS
ok = bool(box.notify(title=request["title"], body=request["body"], notify_type=kind))
print(json.dumps({"ok": ok, "said": said}))
"""


def report(config, state, job, ok, line, now=None):
    """Notify what the rule says for this job's outcome, remembering it in `state` (None: nowhere to remember; the
    caller holds the run lock and saves). Returns a list of warnings; never raises."""
    if not urls(config):
        return []
    now = now or dt.datetime.now(dt.timezone.utc)
    memory = state.notification(job) if state is not None else {}
    kind, delivered, undelivered = decide(memory, ok, line, now)
    warning = None
    if kind:
        title, body = message(config, job, kind, line, undelivered)
        warning = send(config, title, body, kind)
    if state is not None:
        state.set_notification(job, undelivered if warning else delivered)
        if warning:
            state.count_undelivered(now.isoformat())
    return [warning] if warning else []
