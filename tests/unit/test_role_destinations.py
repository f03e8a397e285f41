"""The role's directory destinations: checkniner_backup_dir_destinations becomes DIR_<NAME>_PATH and joins the
names checkniner_backup_extra_env gives CHECKNINER_BACKUP_DESTINATIONS, in the variables file cron reads."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checkniner_backup import config

ROLE = Path(__file__).resolve().parents[2] / "roles" / "checkniner_backup"
# in a process of its own: the controller's templating sets up global state the module tests must not inherit
RENDER = """
import json, sys, yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
role, variables = sys.argv[1], json.loads(sys.argv[2])
internal = yaml.safe_load(open(role + "/vars/main.yml"))
variables.update(
    _checkniner_backup_env={}, _checkniner_backup_retention_env={}, ansible_managed="managed",
    checkniner_backup_wrapper="w", checkniner_backup_app_group="g",
    _checkniner_backup_dir_env=trust_as_template(internal["_checkniner_backup_dir_env"]),
)
template = trust_as_template(open(role + "/templates/checkniner-backup.env.j2").read())
print(Templar(loader=DataLoader(), variables=variables).template(template))
"""


def env_file(**variables):
    argv = [sys.executable, "-c", RENDER, str(ROLE), json.dumps(variables)]
    text = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    found = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            found[name] = value.strip("'")
    return found


@pytest.mark.parametrize(
    "extra, dirs, expected",
    [
        ({}, {}, {}),
        ({}, {"nas": "/mnt/nas"}, {"CHECKNINER_BACKUP_DESTINATIONS": "nas", "DIR_NAS_PATH": "/mnt/nas"}),
        (
            {"CHECKNINER_BACKUP_DESTINATIONS": "offsite, nas", "S3_OFFSITE_BUCKET_NAME": "b"},
            {"nas": "/mnt/nas", "disk2": "/srv/copy"},
            {
                "CHECKNINER_BACKUP_DESTINATIONS": "offsite,nas,disk2",
                "DIR_NAS_PATH": "/mnt/nas",
                "DIR_DISK2_PATH": "/srv/copy",
                "S3_OFFSITE_BUCKET_NAME": "b",
            },
        ),
    ],
)
def test_directory_destinations_reach_the_variables_file_and_the_engine_reads_them(extra, dirs, expected):
    written = env_file(checkniner_backup_extra_env=extra, checkniner_backup_dir_destinations=dirs)
    assert written == expected
    kinds = [(d.name, d.kind) for d in config.load({"DATABASE_URL": "postgres://h/db", **written}).destinations]
    assert kinds == [
        (name, "directory" if name in dirs else "s3")
        for name in expected.get("CHECKNINER_BACKUP_DESTINATIONS", "").split(",")
        if name
    ]
