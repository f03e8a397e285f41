"""Fixtures mode: load `<app>.json` with the application's own Django (the helper's `load`), in one transaction
whose proof (the business apps dumped again, compared with the manifest) runs inside it, so a load into a database
that already holds other rows rolls back instead of leaving a mix. One strategy of the restore's body (command.py)."""

import json
import tempfile

from ..django_client import last_phase
from ..django_helper import protocol
from ..django_helper.protocol import Key
from ..errors import BackupError, ConfigError
from ..pg_admin import is_migrated
from .prove import compare_apps, migrate_check
from .runtime import phase

FIRST_APPS = ("contenttypes", "auth")  # load order: what other apps' natural keys point at comes first


def fixture_order(labels):
    return [a for a in FIRST_APPS if a in labels] + [a for a in labels if a not in FIRST_APPS]


class FixturesMode:
    name = "fixtures"

    def prepare(self, job):
        """Which fixtures load, in which order, and what they must reproduce; an app the archive lacks fails here."""
        fetched = job.fetched
        manifest = fetched.manifest
        available = manifest.apps
        business = set(manifest.business_apps)
        labels = job.selected or available
        unknown = [a for a in labels if a not in available and a not in business]
        if unknown:
            raise ConfigError(
                f"{fetched.name} has no fixture for {', '.join(unknown)} (it has: {', '.join(available) or 'none'})"
            )
        self.to_load = [a for a in fixture_order(labels) if a in available]
        job.result.fixtures = [{"app": a, "objects": manifest.fixture_objects(a)} for a in self.to_load]
        self.expect = manifest.expected_fixtures(set(labels))

    def require_target(self, job):
        """The target must be migrated by the application (fixtures load into its tables), or not exist at all."""
        target, work = job.target, job.work
        if job.exists:
            migrated, has_tables = is_migrated(target)
            if has_tables:
                missing = migrate_check(job.config, target, work) if migrated else ["(no django_migrations table)"]
                if missing:
                    raise ConfigError(
                        f"{target.describe()} misses migrations ({', '.join(missing[:5])}): run manage.py migrate "
                        f"first (fixtures load into a migrated database), or use {job.request.spelling.sql}"
                    )
        manifest = job.fetched.manifest
        self.env = {
            protocol.ENV_CHECKDIR: tempfile.mkdtemp(prefix="proof-", dir=work),
            protocol.ENV_FORMAT: str(manifest.fixture_format),  # the proof dumps as the archive's fixtures were
        }
        if self.expect:
            self.env[protocol.ENV_EXPECT] = json.dumps(self.expect)
        self.files = [job.fetched.fixture(a) for a in self.to_load]

    def already_matches(self, job):
        """A dry load compares without loading."""
        if not (job.exists and self.expect and is_migrated(job.target)[0]):
            return False
        probe = last_phase(job.config, job.target, [protocol.LOAD, *self.files], job.work,
                           {**self.env, protocol.ENV_DRY_RUN: "1"}, "the fixtures comparison")  # fmt: skip
        if probe[Key.PHASE] != protocol.UNCHANGED:
            return False
        job.result.apps = compare_apps(self.expect, probe.get(Key.APPS) or {})
        job.result.fingerprint["actual"] = None
        return True

    def would(self, job):
        return f"would load {', '.join(self.to_load)} into {job.target.describe()}"

    def write(self, job):
        """Load and prove in one transaction."""
        if not is_migrated(job.target)[0]:
            last_phase(job.config, job.target, [protocol.MIGRATE], job.work, None, "migrate")
        with phase(job.timings, "load and proof"):
            self.done = last_phase(job.config, job.target, [protocol.LOAD, *self.files], job.work, self.env,
                                   "loaddata", accept_failed=(protocol.MISMATCH,))  # fmt: skip

    def prove(self, job):
        result, done = job.result, self.done
        actual = done.get(Key.APPS) or {}
        if done[Key.PHASE] == protocol.MISMATCH:
            result.apps = compare_apps(self.expect, actual)
            bad = [a for a, v in result.apps.items() if not v["match"]]
            raise BackupError(
                f"loading {', '.join(self.to_load)} did not reproduce {', '.join(bad)} exactly (the target already "
                f"holds other rows?): rolled back, {job.target.describe()} is unchanged; load into an empty migrated "
                f"database or use {job.request.spelling.sql}"
            )
        result.changed = done[Key.PHASE] == protocol.LOADED
        result.apps = compare_apps(self.expect, actual) if self.expect else {}
        result.ok = all(v["match"] for v in result.apps.values())
        if not self.expect:
            result.warnings.append("no business app among the loaded fixtures: loaded, but there is nothing to prove")
