"""restore.yml and verify.yml hand `-e at=...` and `-e allow_unsigned=...` to the checkniner_restore module (the
module and the engine decide what they mean, tests/integration/test_restore_at.py); without `at`, the option is left
out (the newest archive)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
# in a process of its own: the controller's templating sets up global state the module tests must not inherit
RENDER = """
import json, sys, yaml
from ansible.parsing.dataloader import DataLoader
from ansible.errors import AnsibleValueOmittedError
from ansible.template import Templar, trust_as_template
path, variables = sys.argv[1], json.loads(sys.argv[2])

def tasks(items):
    for item in items:
        yield item
        yield from tasks(item.get("block", []) + item.get("tasks", []))

task = next(t for t in tasks(yaml.safe_load(open(path))) if "checkniner_restore" in t)
templar = Templar(loader=DataLoader(), variables=variables)
args = {}
for key in sys.argv[3].split(","):
    try:
        args[key] = templar.template(trust_as_template(task["checkniner_restore"][key]))
    except AnsibleValueOmittedError:  # `omit`: the option is left out of the module's arguments
        pass
print(json.dumps(args))
"""


def module_args(playbook, keys=("state", "archive", "at"), **variables):
    argv = [sys.executable, "-c", RENDER, str(PLAYBOOKS / playbook), json.dumps(variables), ",".join(keys)]
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("playbook, state", [("restore.yml", "restored"), ("verify.yml", "verified")])
def test_at_is_passed_through_and_left_out_when_not_given(playbook, state):
    assert module_args(playbook, at="2026-11-30T14:00:00Z") == {
        "state": state,
        "archive": "latest",
        "at": "2026-11-30T14:00:00Z",
    }
    assert module_args(playbook, at="-2h")["at"] == "-2h"
    assert "at" not in module_args(playbook)  # omitted: the module's default, the newest archive
    assert "at" not in module_args(playbook, at="")


@pytest.mark.parametrize("playbook", ["restore.yml", "verify.yml"])
def test_allow_unsigned_is_off_unless_given(playbook):
    """-e allow_unsigned=yes is the playbooks' opt-out of the signature check; without it the module refuses."""
    assert module_args(playbook, keys=["allow_unsigned"]) == {"allow_unsigned": False}
    assert module_args(playbook, keys=["allow_unsigned"], allow_unsigned="yes") == {"allow_unsigned": True}
    assert module_args(playbook, keys=["allow_unsigned"], allow_unsigned="no") == {"allow_unsigned": False}
