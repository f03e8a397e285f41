"""The layout holds: files small enough to read, and the front doors go through api.py only."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "module_utils" / "checkniner_backup"
MAX_LINES = 400


def _engine_imports(path, prefix):
    """Engine modules `path` imports, by their name under `prefix` ("checkniner_backup" or the Ansible spelling)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        # f"{x}." so that checkniner_backup_ansible does not count as under checkniner_backup
        if isinstance(node, ast.ImportFrom) and node.level == 0 and f"{node.module}.".startswith(f"{prefix}."):
            rest = node.module[len(prefix) :].lstrip(".")
            found |= {rest} if rest else {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 1 and path.parent == ENGINE:
            found |= {node.module} if node.module else {alias.name for alias in node.names}
    return found


def test_no_engine_file_is_over_400_lines():
    long = {
        str(p.relative_to(ENGINE)): n
        for p in ENGINE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these by concern: {long}"


def test_the_front_doors_import_the_engine_through_api_only():
    doors = {ENGINE / "cli.py": "never", ROOT / "module_utils" / "checkniner_backup_ansible.py": "ansible"}
    doors.update({p: "ansible" for p in (ROOT / "library").glob("*.py")})
    for path, spelling in doors.items():
        prefix = "ansible.module_utils.checkniner_backup" if spelling == "ansible" else "checkniner_backup"
        imported = _engine_imports(path, prefix) - {"__version__"}
        assert imported <= {"api"}, f"{path.name} imports {sorted(imported - {'api'})} besides api"
