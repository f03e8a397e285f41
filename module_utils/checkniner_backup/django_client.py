"""The Django helper process, seen from the engine: one lifecycle for every use (dump, load, migrate, migrate-check).

The helper (django_helper.py) runs inside the application's own interpreter, with its Django and settings, sets
Django up once and speaks one JSON document per line. Its protocol (commands, environment, phases) is named once,
in django_helper.py, and imported from there: the two sides cannot drift apart.
"""

import json
import os
import subprocess

from . import child_env
from . import django_helper as protocol
from .errors import BackupError, ConfigError

# Run as a script by the application's interpreter; imported above also so that Ansible ships it with a module.
HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "django_helper.py")


def helper_script(workdir):
    """Path of django_helper.py that another interpreter can run.

    Installed (pip, source tree): the file itself. Shipped inside an Ansible module's zip (AnsiballZ): HELPER is a
    path inside the zip, so the source is read through the package's loader and written into workdir.
    """
    if os.path.isfile(HELPER):
        return HELPER
    loader = getattr(protocol, "__loader__", None)
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


def helper_env(config, database, extra=None):
    """The environment of the application's own interpreter: the application's (child_env.helper: the engine's
    secrets left out), plus where to find the app and DB."""
    env = child_env.helper(config)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": config.django.settings_module,
            "CHECKNINER_MANAGE_PY": os.path.abspath(config.django.manage_py),
            protocol.ENV_DB: json.dumps(
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
    """The application's Django, set up once, speaking one JSON document per line.

    A context manager: however the caller leaves (an error, a signal), a helper still running is killed.
    """

    def __init__(self, config, database, argv, workdir, extra_env=None):
        config.django.require()
        self.database = database
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

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.proc.poll() is None:
            self.close(kill=True)
        return False

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


def last_phase(config, database, argv, workdir, extra=None, what="the Django helper", accept_failed=()):
    """Run one helper command to its end; returns the last {"phase": ...} document it reported.

    accept_failed: phases a non-zero exit may end with (a load whose proof failed reports MISMATCH and exits 1)."""
    last = {}
    with HelperProcess(config, database, argv, workdir, extra) as helper:
        for doc in helper.messages():
            if "phase" in doc:
                last = doc
        code = helper.close()
    if not last or (code != 0 and last.get("phase") not in accept_failed):
        raise BackupError(f"{what} failed on {database.describe()}: {helper.stderr_tail() or f'exit status {code}'}")
    return last
