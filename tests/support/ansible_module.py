"""Run the Ansible modules of library/ in-process: what the unit tests of tests/unit/modules/ share.

Importing this puts module_utils/ under ``ansible.module_utils`` (what ANSIBLE_MODULE_UTILS does for a real run), so
``ansible.module_utils.checkniner_backup.api`` is the engine the modules see: tests patch that module object.
"""

from __future__ import annotations

import importlib.util
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import ansible.module_utils
import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "library"
MODULES = sorted(path.stem for path in LIBRARY.glob("checkniner_*.py"))

if str(ROOT / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(ROOT / "module_utils"))

DB_PASSWORD = "pw-Secret/9"
DB_URL = "postgres://app:pw-Secret%2F9@db.example:5432/checkniner"
S3_SECRET = "s3-Secret-key-1"


def load_module(name):
    """library/<name>.py, freshly imported."""
    spec = importlib.util.spec_from_file_location(f"cnb_test_{name}", LIBRARY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_module(name, args, check=False, diff=False):
    """Run the module's main() with these args; returns (the JSON result, exit code, raw stdout)."""
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    out = io.StringIO()
    with patch_module_args(args), redirect_stdout(out), pytest.raises(SystemExit) as exc:
        load_module(name).main()
    raw = out.getvalue()
    return json.loads(raw), exc.value.code, raw


def documented_options(name):
    """The options of the module's DOCUMENTATION, merged with the doc fragments it extends (its own win)."""
    doc = yaml.safe_load(load_module(name).DOCUMENTATION)
    options = {}
    for fragment in doc.get("extends_documentation_fragment") or []:
        options.update(yaml.safe_load(load_fragment(fragment).ModuleDocFragment.DOCUMENTATION)["options"])
    options.update(doc.get("options") or {})
    return options


def load_fragment(fragment):
    spec = importlib.util.spec_from_file_location(f"cnb_doc_{fragment}", ROOT / "doc_fragments" / f"{fragment}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Captured(Exception):
    pass


def argument_spec_of(name, monkeypatch):
    """The argument_spec the module's main() hands to AnsibleModule (captured there: nothing runs)."""
    from ansible.module_utils import checkniner_backup_ansible as shared

    seen = {}

    def capture(**kwargs):
        seen.update(kwargs)
        raise _Captured

    monkeypatch.setattr(shared, "AnsibleModule", capture)
    with pytest.raises(_Captured):
        load_module(name).main()
    return seen["argument_spec"]


# The engine errors every module must report as one line (tests/unit/modules/test_checkniner_*.py): class name in
# checkniner_backup.api -> the message.
ENGINE_ERRORS = {
    "Busy": "another checkniner-backup run held the lock on /x for 120s: nothing done; try again",
    "StoreError": "S3 unreachable while reading s3://b/db/latest.json at AWS: connection refused",
    "ConfigError": "S3_REGION is set but S3_BUCKET_NAME is not: name the bucket",
}


def engine_error(kind):
    """An instance of the engine's error class `kind` (as the modules see it), with its ENGINE_ERRORS message."""
    from ansible.module_utils.checkniner_backup import api

    return getattr(api, kind)(ENGINE_ERRORS[kind])


def raiser(exc):
    """A fake engine function that raises exc, whatever it is called with."""

    def fake(*args, **kwargs):
        raise exc

    return fake


def assert_engine_failure(result, code, kind):
    """The task failed with exactly the one line of the engine's `kind` error as msg; the traceback is in
    `exception` (with tracebacks enabled: the `tracebacks` fixture), never in msg."""
    message = ENGINE_ERRORS[kind]
    assert code == 1, result
    assert result["failed"] is True
    assert result["msg"] == message
    assert "\n" not in result["msg"] and "Traceback" not in result["msg"]
    assert f"{kind}: {message}" in result["exception"]
