#!/usr/bin/python
"""Ansible module checkniner_preflight: the server answers and the host's pg_dump can dump it; changes nothing."""

DOCUMENTATION = r"""
module: checkniner_preflight
short_description: Check that the host reaches the database and that its pg_dump can dump the server
description:
  - Runs, on the managed host, the check every C(checkniner-backup run) starts with. Connects to the database with
    the engine's own parsing of the database URL (C(sslmode), C(sslrootcert), a socket directory as the host, ...),
    reads the server's version, and checks that the host's C(pg_dump) is at least the server's major version
    (C(pg_dump) refuses to dump a newer server).
  - Changes nothing; the task fails with the engine's one line (a URL that cannot be parsed, a server that cannot be
    reached, a C(pg_dump) too old and the client package to install), which never quotes the password.
  - C(pg_dump) is looked up on the C(PATH) of the module's environment, as the backup run does.
version_added: "0.1.0"
author:
  - checkniner-backup maintainers
extends_documentation_fragment:
  - checkniner_backup
attributes:
  check_mode:
    support: full
    description:
      - Read-only; runs the same in check mode.
  diff_mode:
    support: N/A
    description:
      - Changes nothing, so there is no diff.
options: {}
notes:
  - Run it as the user the backups run as, with the engine's interpreter (its virtualenv has psycopg2), so that it
    checks what cron will meet.
seealso:
  - module: checkniner_snapshot
"""

EXAMPLES = r"""
- name: Check pg_dump can dump the database, as the application user
  checkniner_preflight:
    database_url: "{{ checkniner_backup_database_url }}"
  become: true
  become_user: checkniner
  vars:
    ansible_python_interpreter: /opt/checkniner-backup/venv/bin/python
  register: preflight

- name: Report the versions
  ansible.builtin.debug:
    msg: "{{ preflight.msg }}"
"""

RETURN = r"""
server_version:
  description: The server's version (C(server_version)).
  returned: success
  type: str
  sample: "15.8 (Debian 15.8-0+deb12u1)"
server_version_num:
  description: The server's version as a number (C(server_version_num)).
  returned: success
  type: int
  sample: 150008
pg_dump_version:
  description: The version of the host's C(pg_dump).
  returned: success
  type: str
  sample: "15.8"
database:
  description: Name of the database connected to.
  returned: success
  type: str
  sample: checkniner
msg:
  description: One line saying which C(pg_dump) can dump which server.
  returned: always
  type: str
  sample: pg_dump 15.8 can dump PostgreSQL 15.8 (Debian 15.8-0+deb12u1)
"""

from ansible.module_utils.checkniner_backup import api
from ansible.module_utils.checkniner_backup_ansible import run_module


def do_check(module, cfg):
    found = api.preflight(cfg)
    module.exit_json(
        changed=False,
        msg=found.line(),
        server_version=found.info["server_version"],
        server_version_num=found.info["server_version_num"],
        pg_dump_version=found.pg_dump_version,
        database=found.info["database"],
    )


def main():
    run_module({}, do_check)


if __name__ == "__main__":
    main()
