"""state.json: what the runs remember. The one owner of its schema; nothing else reads or writes the file.

    archives      {name: {sha256, size, fingerprint}}  recorded when an archive is saved: restores and uploads check
                                                       the file against it
    last          {name, fingerprint, sha256, size}    the newest archive saved here
    last_change   ISO time                             when an archive was last saved
    last_run      {at, outcome, reason, error, duration, name, size}
    last_success  ISO time                             the last run that exited 0 (staleness)
    precheck      {fingerprint, identity, xmax}        change detection, tier 1 (backup/detect.py)
    digests       {fingerprint, identity, tables, migrations}   change detection, tier 2

Written atomically under the run lock. A file that is unreadable or not an object reads as empty (the next run
rebuilds what it needs from the archives themselves).
"""

from .fsutil import atomic_write_json, read_json
from .units import utcnow

STATE = "state.json"


class State:
    def __init__(self, bdir, doc=None):
        self.bdir = bdir
        self.doc = doc if isinstance(doc, dict) else {}

    @classmethod
    def load(cls, bdir):
        return cls(bdir, read_json(bdir.join(STATE), {}))

    def save(self):
        atomic_write_json(self.bdir.join(STATE), self.doc)

    def _section(self, key):
        value = self.doc.get(key)
        return value if isinstance(value, dict) else {}

    # -- archives ----------------------------------------------------------------------------------------------

    def archive(self, name):
        """{sha256, size, fingerprint} recorded when `name` was saved here, or {}."""
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

    def record_saved(self, name, sha256, size, fingerprint):
        self.doc.setdefault("archives", {})[name] = {"sha256": sha256, "size": size, "fingerprint": fingerprint}
        self.doc["last"] = {"name": name, "fingerprint": fingerprint, "sha256": sha256, "size": size}
        self.doc["last_change"] = utcnow().isoformat()

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
        }
        if result.exit_code == 0:
            self.doc["last_success"] = now

    # -- change detection's memory (backup/detect.py) ----------------------------------------------------------

    @property
    def precheck(self):
        return self._section("precheck")

    @property
    def digests(self):
        return self._section("digests")

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
