"""The Django helper process, seen from the engine: one lifecycle for every use (dump, load, migrate, migrate-check).

The helper (the django_helper package) runs inside the application's own interpreter, with its Django and settings,
sets Django up once and speaks one JSON document per line. Its protocol (commands, environment, message keys,
phases) is named once, in django_helper/protocol.py, and imported from there: the two sides cannot drift apart. The
engine imports protocol.py and nothing else of the package; the rest reaches the application's interpreter as one
zipapp built here from the package's files.
"""

import io
import json
import os
import subprocess
import zipfile

from . import child_env
from .django_helper import protocol
from .django_helper.protocol import Key
from .errors import BackupError, ConfigError

HELPER_DIR = os.path.dirname(os.path.abspath(protocol.__file__))
# The helper's modules, in the zipapp under a name of their own (the application's interpreter has no
# checkniner_backup; they import one another relatively). tests/unit/test_django_client.py: every file, no other.
HELPER_MODULES = ("__init__", "__main__", "app_models", "bootstrap", "commands", "fast_path", "fast_values",
                  "framing", "inheritance", "ordering", "protocol", "serializer")  # fmt: skip
ZIPAPP_PACKAGE = "checkniner_django_helper"
ZIPAPP_NAME = ".django_helper.pyz"
# `python helper.pyz`: the zip's own __main__ runs the package's, as `python -m` would
ZIPAPP_MAIN = f"import runpy\n\nrunpy.run_module({ZIPAPP_PACKAGE!r}, run_name='__main__', alter_sys=True)\n"
_ZIPAPP = []  # its bytes, built once a process


def _shipped_with_ansible_modules():  # pragma: no cover - never called
    """Never called: Ansible's module collector ships the module_utils files a shipped file imports (in any function,
    read, not run), and the zipapp is built from the helper's files, so they must be in a module's payload too.
    __main__ imports the commands, which import every other file."""
    from .django_helper import __main__  # noqa: F401


def _helper_source(module):
    """One helper file's bytes, through the package's loader: a file on disk (a wheel, an editable install, the
    source tree), or a member of the zip Ansible ships a module in (AnsiballZ)."""
    path = os.path.join(HELPER_DIR, f"{module}.py")
    loader = getattr(protocol, "__loader__", None)
    try:
        return loader.get_data(path)
    except (AttributeError, OSError):
        raise BackupError(f"cannot read the Django helper's {path}: reinstall checkniner-backup") from None


def zipapp_bytes():
    """The helper package as one zipapp: the same bytes for the same files (sorted members, fixed times and modes),
    built once a process."""
    if not _ZIPAPP:
        members = {f"{ZIPAPP_PACKAGE}/{m}.py": _helper_source(m) for m in HELPER_MODULES}
        members["__main__.py"] = ZIPAPP_MAIN.encode()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for name in sorted(members):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, members[name])
        _ZIPAPP.append(buffer.getvalue())
    return _ZIPAPP[0]


def helper_script(workdir):
    """Path of the helper's zipapp, in workdir (the command's private work directory), for the application's
    interpreter to run as `python PATH COMMAND ...`."""
    path = os.path.join(workdir, ZIPAPP_NAME)
    if not os.path.isfile(path):
        data = zipapp_bytes()
        with open(path + ".tmp", "wb") as handle:
            handle.write(data)
        os.replace(path + ".tmp", path)
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
            if Key.ERROR in doc:
                self.close(kill=True)
                if doc.get(Key.CONFIG):
                    raise ConfigError(doc[Key.ERROR])
                raise BackupError(f"Django helper failed: {doc[Key.ERROR]}")
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
    """Run one helper command to its end; returns the last {Key.PHASE: ...} document it reported.

    accept_failed: phases a non-zero exit may end with (a load whose proof failed reports MISMATCH and exits 1)."""
    last = {}
    with HelperProcess(config, database, argv, workdir, extra) as helper:
        for doc in helper.messages():
            if Key.PHASE in doc:
                last = doc
        code = helper.close()
    if not last or (code != 0 and last.get(Key.PHASE) not in accept_failed):
        raise BackupError(f"{what} failed on {database.describe()}: {helper.stderr_tail() or f'exit status {code}'}")
    return last
