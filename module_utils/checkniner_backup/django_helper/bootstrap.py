"""Django set up once, in the application's interpreter, and the one way the helper talks to the engine: one JSON
document a line on stdout (protocol.Key)."""

import json
import os
import sys

from .protocol import ENV_DB, Key


def emit(doc):
    sys.stdout.write(json.dumps(doc, sort_keys=True) + "\n")
    sys.stdout.flush()


def fail(message, code=1, config=False):
    """Report one line to the engine; config=True marks the user's configuration as the cause (exit code 2)."""
    emit({Key.ERROR: message, Key.CONFIG: config})
    sys.exit(code)


def setup_django():
    manage_py = os.environ.get("CHECKNINER_MANAGE_PY")
    if manage_py:
        project_dir = os.path.dirname(os.path.abspath(manage_py))
        sys.path.insert(0, project_dir)
        os.chdir(project_dir)
    try:
        import django
        from django.conf import settings
    except ImportError as exc:
        fail(f"Django is not importable with {sys.executable} ({exc}): set CHECKNINER_DJANGO_PYTHON", config=True)
    try:
        databases = settings.DATABASES
    except Exception as exc:  # noqa: BLE001 - any settings import error is the user's configuration
        module = os.environ.get("DJANGO_SETTINGS_MODULE")
        fail(f"cannot load Django settings {module!r}: {exc.__class__.__name__}: {exc}", config=True)
    target = os.environ.get(ENV_DB)
    if target:
        # Whatever the settings say, talk to the database the engine is backing up (the SQL and the fixtures
        # must describe the same database; SET TRANSACTION SNAPSHOT refuses any other one anyway).
        params = json.loads(target)
        default = databases.setdefault("default", {})
        if "postgresql" not in default.get("ENGINE", "") and "postgis" not in default.get("ENGINE", ""):
            default["ENGINE"] = "django.db.backends.postgresql"
        default.update(
            NAME=params["name"],
            USER=params.get("user") or "",
            PASSWORD=params.get("password") or "",
            HOST=params.get("host") or "",
            PORT=str(params.get("port") or ""),
        )
        options = dict(default.get("OPTIONS") or {})
        for key in ("sslmode", "sslrootcert"):
            if key in params.get("options", {}):
                options[key] = params["options"][key]
        default["OPTIONS"] = options
    try:
        django.setup()
    except Exception as exc:  # noqa: BLE001
        fail(f"Django setup failed: {exc.__class__.__name__}: {exc}")
