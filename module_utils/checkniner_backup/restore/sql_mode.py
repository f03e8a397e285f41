"""SQL mode, the restore's exact mode: `<db>.sql` streamed from the archive into psql in one transaction that
commits only once the members matched and every table holds the archive's row count (replay.py), then proven by the
row digests recorded at the snapshot (prove.py). One strategy of the restore's body (command.py)."""

from ..pg_admin import describe_sessions, terminate_sessions
from .prove import matches_already, prove_sql
from .replay import replay_sql, sql_counts
from .runtime import phase


class SqlMode:
    name = "sql"

    def prepare(self, job):
        """Nothing to check before the target is looked at: any database takes the SQL."""

    def require_target(self, job):
        """An existing database of any shape takes the replay."""

    def already_matches(self, job):
        with phase(job.timings, "precheck"):
            proof = matches_already(job) if job.exists else None
        if proof is not None:
            proof.apply(job.result)  # matched or not, what it found is check mode's diff
        if proof is not None and proof.ok:
            _warn_extra(job.result)
            return True
        return False

    def would(self, job):
        sql_counts(job.fetched)  # every member checked: a damaged archive fails in check mode too
        return f"would restore {job.fetched.name} into {job.target.describe()}"

    def write(self, job):
        request, result = job.request, job.result
        # the other sessions of the target: ended when asked; else the replay waits for their locks lock_timeout at
        # most
        if job.exists and request.terminate_sessions:
            ended = terminate_sessions(job.target)
            if ended:
                result.warnings.append(
                    f"ended the other sessions of {job.target.describe()}: {describe_sessions(ended)}"
                )
        with phase(job.timings, "replay"):
            self.counts, warnings, self.digests = replay_sql(
                job.config,
                job.target,
                job.fetched,
                job.work,
                lock_timeout=request.lock_timeout if job.exists else None,
                spelling=request.spelling,
            )
            result.warnings += warnings

    def prove(self, job):
        job.result.changed = True
        # the business data, by the digests the replay's own transaction took
        with phase(job.timings, "proof"):
            proof = prove_sql(job, self.counts, replayed=self.digests)
        proof.apply(job.result)
        job.result.ok = proof.ok
        _warn_extra(job.result)


def _warn_extra(result):
    if result.extra_tables:
        result.warnings.append(
            f"tables not in the archive were left as they are: {', '.join(result.extra_tables)} "
            "(created by a newer migration? drop them, or migrate again with --fake-initial)"
        )
