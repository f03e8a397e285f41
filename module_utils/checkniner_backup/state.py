"""state.json: what the runs remember. The one owner of its schema; nothing else reads or writes the file.

    archives      {name: {sha256, size, fingerprint}}  recorded when an archive is saved: restores and uploads check
                                                       the file against it
    destinations  {name: {reconciled, probed: ISO}}    every archive here was queued for that destination, or found
                                                       in it (backup/reconcile.py); missing: not yet (a destination
                                                       configured since, or a state file older than this key);
                                                       probed: when it last answered (CHECKNINER_PROBE_INTERVAL)
    last          {name, fingerprint, sha256, size}    the newest archive saved here
    last_change   ISO time                             when an archive was last saved
    last_run      {at, outcome, reason, error, duration, name, size, pending}
    last_success  ISO time                             the last run that exited 0 (staleness)
    serializer_models  {at, models: {model: reason}}   the models Django's serializer wrote in the last run that
                                                       dumped fixtures (the fast path declined them; status shows it)
    last_drill    {at, outcome, archive, error, locations: [{location, archive, ok, message}]}   the last restore drill
    last_drill_success  ISO time                       the last drill that passed (drill staleness)
    last_prune    {at, outcome, deleted, error}        the last retention run (outcome pruned | failed)
    last_prune_success  ISO time
    counters      {runs: {result: n}, archives_saved,   running totals behind the metrics' *_total counters
                   uploads, upload_failures,           (metrics.py); missing (an older file): they start at 0
                   drills: {result: n}, prunes: {result: n}, pruned_archives}
    unauthenticated  {destination: n}                  objects prune found in a destination that no trusted
                                                       signature vouches for (the metrics' gauge; missing: 0); set
                                                       from the prune record's `unauthenticated` {destination: n}
    notifications {jobs: {job: {failing, cause, since, notified}}, undelivered_total, last_undelivered}
                                                       what notify.py told people (job: run | drill | prune), and
                                                       how many notifications could not be delivered
    precheck      {fingerprint, identity, xmax}        change detection, tier 1 (backup/detect.py)
    statistics    {fingerprint, identity, epoch, tables, skipped, why}   change detection, tier 2: the write counters
                                                       read before the digests' snapshot (backup/table_stats.py), the
                                                       runs they decided since, why the digests last ran
    digests       {fingerprint, identity, tables, migrations}   change detection, tier 3

Written atomically under the run lock. A file that is not valid JSON or not of this shape is set aside by whoever
loads it under the lock (`state.json.bad-<stamp>`, with a warning) and the state starts empty: the next run rebuilds
what it needs from the archives themselves. Read-only callers read such a file as empty, with the same warning.
"""

import contextlib
import json
import os

from . import lock
from .fsutil import atomic_write_json
from .manifest import serializer_models
from .state_shape import is_count, problem_of
from .units import utcnow

STATE = "state.json"
JOB_COUNTERS = {"drill": "drills", "prune": "prunes"}  # the counters' key in state.json of each job


class State:
    def __init__(self, bdir, doc=None):
        self.bdir = bdir
        self.doc = doc if isinstance(doc, dict) else {}
        self.warnings = []  # what the front door should tell the user (a state file set aside)

    @classmethod
    def load(cls, bdir, set_aside=False):
        """The state of the backup directory. set_aside (callers holding the run lock): a malformed file is renamed
        to state.json.bad-<stamp> so that the next save does not overwrite it; others read it as empty."""
        path = bdir.join(STATE)
        try:
            with open(path, "rb") as handle:
                doc = json.loads(handle.read().decode("utf-8"))
        except FileNotFoundError:
            return cls(bdir)
        except ValueError:  # not JSON, or not UTF-8
            problem = "not valid JSON"
        else:
            problem = problem_of(doc)
            if problem is None:
                return cls(bdir, doc)
        state = cls(bdir)
        if set_aside:
            bad = f"{path}.bad-{utcnow().strftime('%Y%m%dT%H%M%S%fZ')}"
            os.replace(path, bad)
            state.warnings.append(
                f"{path} was {problem}: set aside as {os.path.basename(bad)}; starting from an empty state"
            )
        else:
            state.warnings.append(f"{path} is {problem}: read as empty (the next run sets it aside)")
        return state

    def save(self):
        atomic_write_json(self.bdir.join(STATE), self.doc)

    def _section(self, key):
        value = self.doc.get(key)
        return value if isinstance(value, dict) else {}

    # -- archives ----------------------------------------------------------------------------------------------

    def archive(self, name):
        """{sha256, size, fingerprint} recorded for `name` here, or {}."""
        info = self._section("archives").get(name)
        return info if isinstance(info, dict) else {}

    def forget_missing(self, present):
        """Forget the bookkeeping of archives removed since (by hand, or by prune)."""
        present = set(present)
        self.doc["archives"] = {k: v for k, v in self._section("archives").items() if k in present}

    def forget(self, names):
        """Forget these archives; True when the state changed (the caller saves)."""
        archives = self._section("archives")
        if not any(name in archives for name in names):
            return False
        gone = set(names)
        self.doc["archives"] = {k: v for k, v in archives.items() if k not in gone}
        return True

    def next_sequence(self, floor=0):
        """The save sequence of the next archive: one more than any this directory recorded, and than `floor` (the
        highest a destination's pointer names, when the state was lost). Monotonic, whatever the clock does: `latest`
        follows it, not the names (a clock set back makes older names of newer data)."""
        seen = [a.get("sequence") or 0 for a in self.doc.get("archives", {}).values()]
        return max([self.doc.get("sequence") or 0, floor, *seen]) + 1

    def sequences(self):
        """{archive name: its save sequence} of the archives recorded with one."""
        archives = self.doc.get("archives", {})
        return {name: a["sequence"] for name, a in archives.items() if isinstance(a.get("sequence"), int)}

    def record_saved(self, name, sha256, size, fingerprint, sequence=None):
        record = {"sha256": sha256, "size": size, "fingerprint": fingerprint}
        if sequence is not None:
            record["sequence"] = sequence
            self.doc["sequence"] = max(self.doc.get("sequence") or 0, sequence)
        self.doc.setdefault("archives", {})[name] = record
        self.doc["last"] = {"name": name, "fingerprint": fingerprint, "sha256": sha256, "size": size}
        self.doc["last_change"] = utcnow().isoformat()
        self.count("archives_saved")

    # -- destinations this directory was reconciled with (backup/reconcile.py) --------------------------------

    def reconciled(self, destination):
        """True once every archive here was queued for the destination or found in it. From then on every archive
        is queued for it when saved, so what is not in its outbox is there."""
        return bool((self._section("destinations").get(destination) or {}).get("reconciled"))

    def record_reconciled(self, destination):
        entry = self.doc.setdefault("destinations", {}).setdefault(destination, {})
        entry["reconciled"] = utcnow().isoformat()

    def forget_reconciled(self, destination):
        """The destination lost what it held (backup/reconcile.py probe): reconciled again, its probe time kept."""
        entry = dict(self._section("destinations").get(destination) or {})
        entry.pop("reconciled", None)
        self.doc.setdefault("destinations", {})[destination] = entry

    def probed(self, destination):
        """When the destination last answered a probe or took an upload (ISO time), or None: never, or it failed
        since (backup/reconcile.py probes it again then)."""
        return self._section("destinations").get(destination, {}).get("probed")

    def record_probe(self, destination, ok):
        """The destination answered (ok) or failed: a failure forgets the last answer, so the next run asks again."""
        entry = self._section("destinations").get(destination)
        if not isinstance(entry, dict):
            return  # not reconciled yet: the reconciliation's listing asks it first
        if ok:
            entry["probed"] = utcnow().isoformat()
        else:
            entry.pop("probed", None)

    def forget_destinations(self, configured):
        """A destination no longer configured is forgotten: configured again later, it is reconciled again (the
        archives saved meanwhile were queued for nobody)."""
        configured = set(configured)
        kept = {k: v for k, v in self._section("destinations").items() if k in configured}
        if kept != self._section("destinations"):
            self.doc["destinations"] = kept

    # -- the last archive and the last runs --------------------------------------------------------------------

    @property
    def last(self):
        return self._section("last")

    @property
    def last_run(self):
        return self.doc.get("last_run")

    @property
    def last_success(self):
        return self.doc.get("last_success")

    @property
    def last_change(self):
        return self.doc.get("last_change")

    def record_run(self, result):
        """The outcome of a run (backup.RunResult); a success also moves last_success (staleness)."""
        now = utcnow().isoformat()
        self.doc["last_run"] = {
            "at": now,
            "outcome": result.outcome,
            "reason": result.reason,
            "error": result.error,
            "duration": round(result.duration, 3),
            "name": result.name,
            "size": result.size,
            "pending": result.pending,
        }
        if result.exit_code == 0:
            self.doc["last_success"] = now
        self.count("runs", result.outcome)
        self.count("uploads", by=len(result.uploaded))
        if result.upload_failed:
            self.count("upload_failures")
        if result.models:  # only a run that dumped fixtures knows: an unchanged precheck keeps the last one's
            self.doc["serializer_models"] = {"at": now, "models": serializer_models(result.models)}

    @property
    def serializer_models(self):
        """{model: reason} of the models Django's serializer wrote in the last dump, and when (None: no dump yet)."""
        section = self._section("serializer_models")
        return section.get("models") or {}, section.get("at")

    # -- the other scheduled jobs: the drill and prune (health.py reports them) --------------------------------

    def job(self, job):
        """(last record, last success) of "drill" or "prune"."""
        return self._section(f"last_{job}"), self.doc.get(f"last_{job}_success")

    def record_job(self, job, record, ok):
        """The outcome of a drill or prune: record {outcome|ok, ...}; a success also moves last_<job>_success."""
        now = utcnow().isoformat()
        self.doc[f"last_{job}"] = {"at": now, **record}
        if ok:
            self.doc[f"last_{job}_success"] = now
        self.count(JOB_COUNTERS[job], record.get("outcome", "unknown"))
        if job == "prune" and isinstance(record.get("deleted"), int):
            self.count("pruned_archives", by=record["deleted"])
        # prune's count per destination it listed: a destination it could not list keeps its last count
        found = record.get("unauthenticated") if job == "prune" else None
        for destination, count in (found if isinstance(found, dict) else {}).items():
            if is_count(count):
                self.record_unauthenticated(destination, count)

    # -- running totals (metrics.py renders them as *_total counters) -----------------------------------------

    @property
    def counters(self):
        return self._section("counters")

    def count(self, name, key=None, by=1):
        """Add `by` to counter `name` (to its `key` entry when given: runs by result)."""
        counters = self.doc.setdefault("counters", {})
        if key is None:
            counters[name] = (counters.get(name) if is_count(counters.get(name)) else 0) + by
            return
        entries = counters.get(name) if isinstance(counters.get(name), dict) else {}
        entries[key] = entries.get(key, 0) + by
        counters[name] = entries

    # -- what prune found in each destination -----------------------------------------------------------------

    @property
    def unauthenticated(self):
        """{destination: objects no trusted signature vouches for}, as prune last counted them."""
        return self._section("unauthenticated")

    def record_unauthenticated(self, destination, count):
        self.doc.setdefault("unauthenticated", {})[destination] = count

    # -- what was notified (notify.py) --------------------------------------------------------------------------

    def notification(self, job):
        """The job's notification memory {failing, cause, since, notified}, or {}."""
        value = self._section("notifications").get("jobs", {}).get(job)
        return dict(value) if isinstance(value, dict) else {}

    def set_notification(self, job, memory):
        section = self.doc.setdefault("notifications", {})
        jobs = section.setdefault("jobs", {})
        if memory:
            jobs[job] = memory
        else:
            jobs.pop(job, None)

    def count_undelivered(self, at):
        """One more notification that could not be delivered (a counter for the metrics)."""
        section = self.doc.setdefault("notifications", {})
        section["undelivered_total"] = (section.get("undelivered_total") or 0) + 1
        section["last_undelivered"] = at

    # -- change detection's memory (backup/detect.py) ----------------------------------------------------------

    @property
    def precheck(self):
        return self._section("precheck")

    @property
    def digests(self):
        return self._section("digests")

    @property
    def statistics(self):
        return self._section("statistics")

    def remember_statistics(self, fingerprint, identity, evidence, why):
        """With digests just taken or confirmed: the write counters read before their snapshot (None: none that
        cover them), and why the digests ran. The statistics decide nothing for other data."""
        self.doc["statistics"] = (
            {"fingerprint": fingerprint, "identity": identity, **evidence, "skipped": 0, "why": why} if evidence else {}
        )

    def skipped_digests(self):
        """One more run the statistics decided (the digests run at least every CHECKNINER_FULL_DIGEST_EVERY)."""
        statistics = self.statistics
        statistics["skipped"] = (statistics.get("skipped") or 0) + 1
        self.doc["statistics"] = statistics

    def remember(self, fingerprint, identity, xmax, tables=None, migrations=None):
        """After a settled snapshot: the transaction id it saw (only when nothing was in flight), and when given the
        business tables' digests of the data `fingerprint` describes."""
        self.doc["precheck"] = {"fingerprint": fingerprint, "identity": identity, "xmax": xmax} if xmax else {}
        if tables is not None:
            self.doc["digests"] = {
                "fingerprint": fingerprint,
                "identity": identity,
                "tables": tables,
                "migrations": migrations,
            }


@contextlib.contextmanager
def locked(bdir, nothing_done):
    """The state of the backup directory for a job other than `run` to change (the drill's and prune's records):
    under the run lock, waiting lock.WAIT for a run that holds it (Busy, saying `nothing_done`, after that), read
    with a malformed file set aside. The caller saves it; what it derives from the state inside the block (the
    metrics file) is of this state, with no other job's rewrite in between."""
    with lock.run_lock(bdir.path, wait=lock.WAIT, nothing_done=nothing_done):
        yield State.load(bdir, set_aside=True)
