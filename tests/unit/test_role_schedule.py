"""The role's schedule: the host-side drill only where it can succeed (Molecule runs the whole role)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCHEDULE = Path(__file__).resolve().parents[2] / "roles" / "checkniner_backup" / "tasks" / "schedule.yml"
# in a process of its own: the controller's templating sets up global state the module tests must not inherit
RENDER = """
import json, sys, yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
path, name, variables = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
task = next(t for t in yaml.safe_load(open(path)) if t["name"] == name)
expression = trust_as_template(task["ansible.builtin.cron"]["state"])
print(Templar(loader=DataLoader(), variables=variables).template(expression))
"""


def cron_state(task_name, **variables):
    argv = [sys.executable, "-c", RENDER, str(SCHEDULE), task_name, json.dumps(variables)]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize(
    "enabled, recipient, state",
    [(True, "", "present"), (False, "", "absent"), (True, "0xBACKUPKEY", "absent"), (False, "0xBACKUPKEY", "absent")],
)
def test_no_host_side_drill_with_encryption_on(enabled, recipient, state):
    """With encryption on the host holds only the public key: a drill there could only fail."""
    variables = {"checkniner_backup_verify_cron_enabled": enabled, "checkniner_backup_gpg_recipient": recipient}
    assert cron_state("Schedule the daily restore drill", **variables) == state
