"""One consistent snapshot: Django fixtures and pg_dump SQL, all read from one exported PostgreSQL snapshot.

The business fixtures come first; the caller decides from their fingerprint whether the rest (the other apps'
fixtures and the SQL) is worth taking at all.
"""

import json
import os
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Dict, Optional

from . import django_helper, pg
from .errors import BackupError, ConfigError

# Run as a script by the application's interpreter. Imported above only so that Ansible ships it with a module.
MIGRATIONS = "django_migrations"
HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "django_helper.py")


def helper_script(workdir):
    """Path of django_helper.py that another interpreter can run.

    Installed (pip, source tree): the file itself. Shipped inside an Ansible module's zip (AnsiballZ): HELPER is a
    path inside the zip, so the source is read through the package's loader and written into workdir.
    """
    if os.path.isfile(HELPER):
        return HELPER
    loader = getattr(django_helper, "__loader__", None)
    try:
        source = loader.get_data(HELPER) if hasattr(loader, "get_data") else None
    except OSError:
        source = None
    if source is None:
        raise BackupError(f"cannot find the Django helper script {HELPER}: reinstall checkniner-backup")
    path = os.path.join(workdir, ".django_helper.py")
    with open(path, "wb") as handle:
        handle.write(source)
    return path


@dataclass
class Snapshot:
    fixtures: Dict[str, dict] = field(default_factory=dict)  # label -> {sha256, size, objects, business}
    sql: Optional[dict] = None  # {sha256, size} of <db>.sql
    tables: Dict[str, list] = field(default_factory=dict)  # label -> its tables
    table_digests: Dict[str, dict] = field(default_factory=dict)  # business label -> {table: {rows, sum}}
    migrations_digest: Optional[dict] = None  # of django_migrations: a new model means a new migration
    migrations: Dict[str, str] = field(default_factory=dict)
    complete: bool = False


def helper_env(config, database, extra=None):
    """The environment of the application's own interpreter: the caller's, plus where to find the app and DB."""
    env = dict(config.env)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": config.django.settings_module,
            "CHECKNINER_MANAGE_PY": os.path.abspath(config.django.manage_py),
            "CHECKNINER_HELPER_DB": json.dumps(
                {
                    "name": database.name,
                    "user": database.user,
                    "password": database.password,
                    "host": database.host,
                    "port": database.port,
                    "options": database.options,
                }
            ),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


class HelperProcess:
    """The application's Django, set up once, speaking one JSON document per line."""

    def __init__(self, config, database, argv, workdir, extra_env=None):
        config.django.require()
        self.stderr_path = os.path.join(workdir, ".helper-stderr")
        self._stderr = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [config.django.python, helper_script(workdir), *argv],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=helper_env(config, database, extra_env),
                cwd=os.path.dirname(os.path.abspath(config.django.manage_py)),
            )
        except OSError as exc:
            self._stderr.close()
            raise BackupError(f"cannot start the application's Python {config.django.python}: {exc}") from None

    def messages(self):
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                continue  # the application printed something of its own
            if "error" in doc:
                self.close(kill=True)
                if doc.get("config"):
                    raise ConfigError(doc["error"])
                raise BackupError(f"Django helper failed: {doc['error']}")
            yield doc

    def send(self, text):
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()

    def close(self, kill=False):
        if kill and self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        code = self.proc.wait()
        self._stderr.close()
        return code

    def stderr_tail(self):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as handle:
                lines = [line.strip() for line in handle if line.strip()]
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def finish(self, what):
        code = self.close()
        if code != 0:
            raise BackupError(f"Django helper failed during {what}: {self.stderr_tail() or f'exit status {code}'}")


def table_digests(database, snapshot_id, tables_by_app, methods=None):
    """({app: {table: digest}}, digest of django_migrations) read from the snapshot (see pg.table_digests).

    methods: {table: method} to compare with recorded digests (default: the cheapest each table supports)."""
    flat = sorted({t for tables in tables_by_app.values() for t in tables} | {MIGRATIONS})
    digests = pg.snapshot_digests(database, snapshot_id, flat, methods)
    return {a: {t: digests[t] for t in ts} for a, ts in tables_by_app.items()}, digests[MIGRATIONS]


def take(config, workdir, decide, snapshot_id, database=None):
    """Dump into workdir from the exported snapshot. decide(business_fixtures) -> bool: go on with the full dump?

    Returns a Snapshot; .complete is False when decide() said stop after the business apps.
    """
    database = database or config.database
    result = Snapshot()
    helper = HelperProcess(
        config,
        database,
        ["dump", workdir],
        workdir,
        {
            "CHECKNINER_HELPER_APPS": ",".join(config.apps),
            "CHECKNINER_HELPER_SNAPSHOT": snapshot_id or "",
            "CHECKNINER_HELPER_HANDSHAKE": "1",
        },
    )
    dump_thread = None
    dump_error = []
    try:
        for doc in helper.messages():
            if "app" in doc:
                result.tables[doc["app"]] = doc.get("tables", [])
                if doc.get("objects"):
                    result.fixtures[doc["app"]] = doc
            elif doc.get("phase") == "business-done":
                go_on = decide({k: v["sha256"] for k, v in result.fixtures.items()})
                helper.send("continue" if go_on else "stop")
                business_tables = {a: result.tables.get(a, []) for a in config.apps}
                if not go_on:
                    result.table_digests, result.migrations_digest = table_digests(
                        database, snapshot_id, business_tables
                    )
                    continue
                # The SQL is read in parallel with the remaining fixtures, from the same snapshot.
                sql_path = os.path.join(workdir, f"{database.name}.sql")

                def run_dump(path=sql_path):
                    try:
                        result.sql = pg.pg_dump(database, snapshot_id, path, config.env)
                    except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                        dump_error.append(exc)

                dump_thread = threading.Thread(target=run_dump, name="pg_dump", daemon=True)
                dump_thread.start()
                # meanwhile, digests of the business tables: they prove an SQL restore without Django
                result.table_digests, result.migrations_digest = table_digests(database, snapshot_id, business_tables)
            elif doc.get("phase") in ("done", "stopped"):
                result.migrations = doc.get("migrations", {})
                result.complete = doc["phase"] == "done"
        helper.finish("the fixtures dump")
    finally:
        if helper.proc.poll() is None:
            helper.close(kill=True)
        if dump_thread is not None:
            dump_thread.join()
    if dump_error:
        raise dump_error[0]
    return result
