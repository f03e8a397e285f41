"""The module_utils files Ansible's own collector (ModuleDepFinder) puts in a module's payload, followed from
library/MODULE.py as AnsiballZ follows them (imports in any function count, like theirs).

    python ansible_payload.py MODULE   # prints the files, relative to module_utils/, as a JSON list
"""

import ast
import json
import sys
from pathlib import Path

from ansible.executor.module_common import ModuleDepFinder

ROOT = Path(__file__).resolve().parents[2]


def shipped(module):
    """The files shipped with library/MODULE.py, relative to module_utils/."""
    base = ROOT / "module_utils"
    todo, seen = [(ROOT / "library" / f"{module}.py", None, False)], set()
    while todo:
        path, fqn, is_pkg = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        finder = ModuleDepFinder(fqn, ast.parse(path.read_text()), is_pkg)
        for parts in finder.submodules:
            if parts[:2] != ("ansible", "module_utils"):
                continue
            # the deepest prefix that is a file or a package (the rest names attributes)
            for end in range(len(parts), 2, -1):
                rel = Path(*parts[2:end])
                dotted = ".".join(parts[:end])
                if (base / rel / "__init__.py").is_file():
                    todo.append((base / rel / "__init__.py", dotted, True))
                    break
                if (base / rel).with_suffix(".py").is_file():
                    todo.append(((base / rel).with_suffix(".py"), dotted, False))
                    break
            for end in range(3, len(parts)):  # AnsiballZ ships every package __init__ on the way
                if (base / Path(*parts[2:end]) / "__init__.py").is_file():
                    todo.append((base / Path(*parts[2:end]) / "__init__.py", ".".join(parts[:end]), True))
    return {p.relative_to(base) for p in seen if base in p.parents}


if __name__ == "__main__":
    print(json.dumps(sorted(str(p) for p in shipped(sys.argv[1]))))
