#!/usr/bin/env python3
"""Render the role's variables (roles/checkniner_backup/meta/argument_specs.yml) as the README's markdown table.

scripts/role-variables-table.py           print the table
scripts/role-variables-table.py --write   replace the table between the README's role-variables markers
"""

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "roles" / "checkniner_backup" / "meta" / "argument_specs.yml"
README = ROOT / "README.md"
START, END = "<!-- role-variables:start -->", "<!-- role-variables:end -->"


def _text(value):
    if isinstance(value, list):
        value = " ".join(value)
    text = re.sub(r"[COIV]\(([^)]*)\)", r"`\1`", str(value))  # ansible-doc markup -> markdown
    return " ".join(text.replace("|", "\\|").split())


def table():
    options = yaml.safe_load(SPECS.read_text())["argument_specs"]["main"]["options"]
    rows = ["| variable | type | default | description |", "|---|---|---|---|"]
    for name, spec in options.items():
        kind = spec.get("type", "str") + (f" of {spec['elements']}" if spec.get("elements") else "")
        default = spec.get("default", "(required)" if spec.get("required") else "")
        default = (
            "`"
            + _text(
                default
                if not isinstance(default, (list, dict))
                else yaml.safe_dump(default, default_flow_style=True).strip()
            )
            + "`"
        )
        secret = " **Secret.**" if spec.get("no_log") else ""
        rows.append(f"| `{name}` | {kind} | {default} | {_text(spec.get('description', ''))}{secret} |")
    return "\n".join(rows)


def render(readme_text):
    before, rest = readme_text.split(START, 1)
    _old, after = rest.split(END, 1)
    return f"{before}{START}\n{table()}\n{END}{after}"


if __name__ == "__main__":
    if "--write" in sys.argv:
        README.write_text(render(README.read_text()))
    else:
        print(table())
