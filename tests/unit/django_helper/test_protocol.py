"""protocol.py is the one file of the helper the engine imports: Django-free, and importing nothing else of the package
(the others import Django, and the engine runs where Django may not be importable at all)."""

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import checkniner_backup
from checkniner_backup.django_helper import protocol

ENGINE = Path(checkniner_backup.__file__).resolve().parent
HELPER = ENGINE / "django_helper"
KEYS = {value for name, value in vars(protocol.Key).items() if not name.startswith("_")}


def _imports(path):
    """(level, module name) of every import in path, in any function too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_protocol_imports_the_standard_library_only():
    imported = _imports(HELPER / "protocol.py")
    assert all(level == 0 for level, _ in imported), "protocol.py imports the rest of the package"
    assert {name.split(".")[0] for _, name in imported} <= set(sys.stdlib_module_names), imported
    assert not _imports(HELPER / "__init__.py"), "the package's __init__ runs whenever the engine imports protocol"


def test_importing_protocol_loads_no_django_and_no_other_helper_file():
    """The same, as Python sees it: a fresh interpreter that imports protocol has no Django and no other helper file."""
    code = (
        "import json, sys; import checkniner_backup.django_helper.protocol; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'checkniner_backup'))))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)
    assert loaded == ["checkniner_backup", *(f"checkniner_backup.django_helper{m}" for m in ("", ".protocol"))]


def test_the_engine_imports_nothing_of_the_helper_but_protocol():
    """Every engine module imported, in a fresh interpreter: of the helper package, only protocol is loaded (and no
    Django), so the other files may import Django at their top level if they ever need to."""
    modules = [m.name for m in pkgutil.walk_packages([str(ENGINE)], "checkniner_backup.")]
    modules = [m for m in modules if not m.startswith("checkniner_backup.django_helper")]
    assert "checkniner_backup.django_client" in modules and "checkniner_backup.api" in modules
    code = (
        f"import importlib, json, sys; [importlib.import_module(m) for m in {modules!r}]; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('checkniner_backup.django_helper') "
        "or m.split('.')[0] == 'django')))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)
    assert loaded == ["checkniner_backup.django_helper", "checkniner_backup.django_helper.protocol"]


def test_the_helper_imports_nothing_of_the_engine():
    """It runs inside the application's virtualenv, which does not have checkniner_backup: its files import one
    another relatively (in the zipapp the package has another name), never the engine above them."""
    for path in HELPER.glob("*.py"):
        for level, name in _imports(path):
            assert level <= 1, f"{path.name} imports {'.' * level}{name}: outside the helper package"
            assert "checkniner_backup" not in name, f"{path.name} imports {name}"


# the names a helper's message has where it is read (HelperProcess.messages(), last_phase(), and in the helper)
MESSAGES = {"doc", "probe", "done", "last", "info"}


def _message_reads(tree):
    """String constants read out of a message: doc["app"], doc.get("app"), "app" in doc."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in MESSAGES:
            if isinstance(node.slice, ast.Constant):
                yield node.slice.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            if isinstance(node.func.value, ast.Name) and node.func.value.id in MESSAGES and node.args:
                if isinstance(node.args[0], ast.Constant):
                    yield node.args[0].value
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant):
            if any(isinstance(c, ast.Name) and c.id in MESSAGES for c in node.comparators):
                yield node.left.value


def _dict_keys(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            yield from (k.value for k in node.keys if isinstance(k, ast.Constant))


def test_the_helper_writes_and_reads_its_messages_by_key():
    """No message key is a bare string in the helper: a renamed key changes both sides at once."""
    for path in HELPER.glob("*.py"):
        if path.name != "protocol.py":
            tree = ast.parse(path.read_text())
            bare = sorted({*_dict_keys(tree), *_message_reads(tree)} & KEYS)
            assert not bare, f"{path.name} spells message keys itself: {bare} (use protocol.Key)"


def test_the_engine_reads_the_helpers_messages_by_key():
    """Nor in the engine where it reads the helper's messages (its own results' keys are its own)."""
    readers = [p for p in ENGINE.rglob("*.py") if HELPER not in p.parents and "django_helper" in p.read_text()]
    assert {p.name for p in readers} >= {"django_client.py", "snapshot.py", "prove.py", "fixtures.py"}
    for path in readers:
        bare = sorted(set(_message_reads(ast.parse(path.read_text()))) & KEYS)
        assert not bare, f"{path.name} reads the helper's messages by bare keys: {bare} (use protocol.Key)"


def test_message_keys_are_distinct():
    values = [value for name, value in vars(protocol.Key).items() if not name.startswith("_")]
    assert len(values) == len(set(values))
