#!/usr/bin/python
"""Ansible module checkniner_snapshot: one backup iteration, changed only when a new archive was saved."""

DOCUMENTATION = r"""
module: checkniner_snapshot
short_description: Take a snapshot of a Django application's PostgreSQL database; save it only if the data changed
description:
  - Runs one iteration of C(checkniner-backup run), the same engine cron runs every five minutes, on the managed host.
  - Dumps the business apps' fixtures from one exported PostgreSQL snapshot, compares their fingerprint with the last
    archive's, and only when the business data changed dumps the rest (the C(pg_dump) SQL and every app's fixture),
    writes a new C(.tar.gz) archive, points C(latest.tar.gz) at it and uploads it to S3 when S3 is configured.
  - C(changed) is true only when a new archive was saved (or, in check mode, would be saved).
  - Another run holding the lock (cron, say) is not a failure, the task reports C(outcome=busy) and no change.
version_added: "0.1.0"
author:
  - checkniner-backup maintainers
extends_documentation_fragment:
  - checkniner_backup
attributes:
  check_mode:
    support: full
    description:
      - Reads the database and the business fixtures to decide whether an archive would be saved; saves, uploads and
        records nothing.
  diff_mode:
    support: none
options: {}
notes:
  - An archive saved while the upload failed stays in the local outbox (it is sent by the next run); the task fails
    with C(changed=true) and the upload error so that the failure is seen.
seealso:
  - module: checkniner_upload
  - module: checkniner_archive_info
"""

EXAMPLES = r"""
- name: Back up now, with the host's configuration (the variables file cron uses, read by the module on the host)
  checkniner_snapshot:
    env_file: /etc/checkniner-backup/checkniner-backup.env
  become: true
  become_user: checkniner

- name: Back up with explicit options
  checkniner_snapshot:
    database_url: "{{ vault_checkniner_database_url }}"
    backup_dir: /var/backups/checkniner
    manage_py: /srv/checkniner/manage.py
    settings_module: checkniner.settings
    django_python: /srv/checkniner/venv/bin/python
    s3_bucket: checkniner-backups
    s3_access_key: "{{ vault_s3_access_key }}"
    s3_secret_key: "{{ vault_s3_secret_key }}"
  register: backup

- name: Report
  ansible.builtin.debug:
    msg: "{{ backup.msg }}"

- name: Would a backup be saved now? (nothing is written)
  checkniner_snapshot:
  check_mode: true
  register: would
"""

RETURN = r"""
outcome:
  description: What the run did.
  returned: always
  type: str
  choices: [saved, unchanged, would save, busy]
  sample: saved
name:
  description: Name of the archive saved.
  returned: when an archive was saved
  type: str
  sample: 2026-11-23T214052Z.tar.gz
fingerprint:
  description: Business fingerprint (sha256 over the business apps' fixtures) of the data seen.
  returned: unless busy
  type: str
  sample: 6d1f0c0e5c0e4f5b8a0b1f3a9e2d7c4b6a5f8e9d0c1b2a3f4e5d6c7b8a9f0e1d
reason:
  description: Why nothing was saved (C(precheck) when no transaction committed since the last run, C(statistics)
    when PostgreSQL's write counters show no business table written, C(digests) when the business tables' row digests
    are unchanged, C(fingerprint) when the business fixtures are unchanged), or why an archive would be saved in check
    mode.
  returned: always
  type: str
  sample: fingerprint
size:
  description: Size in bytes of the archive saved.
  returned: always
  type: int
  sample: 48213
uploaded:
  description: Archives uploaded to S3 by this run (the new one, and any left in the outbox by earlier runs).
  returned: always
  type: list
  elements: str
  sample: [2026-11-23T214052Z.tar.gz]
pending:
  description: Archives still waiting in the outbox for upload.
  returned: always
  type: int
  sample: 0
duration:
  description: Seconds the run took.
  returned: always
  type: float
  sample: 1.84
models:
  description:
    - The path that wrote each model's objects in this run's fixtures, C(fast) (PostgreSQL writes them itself) or
      C(serializer) (Django's serializer, object by object, much slower on large tables), and for C(serializer) the
      C(reason) the fast path declined the model (the field, its class and what it overrides, or a value).
    - Empty when the run dumped no fixtures (unchanged by C(precheck) or C(digests)).
  returned: always
  type: dict
  sample:
    auth.user: {path: fast}
    checkouts.checkout: {path: serializer, reason: created is a Stamp that overrides value_to_string}
msg:
  description: The one line the run leaves in the log.
  returned: always
  type: str
  sample: saved 2026-11-23T214052Z.tar.gz (47.1 KB, 1.84s); uploaded 2026-11-23T214052Z.tar.gz
"""

from ansible.module_utils.checkniner_backup import api
from ansible.module_utils.checkniner_backup_ansible import run_module

RESULT_KEYS = ("outcome", "name", "fingerprint", "reason", "size", "uploaded", "pending", "duration", "models")


def do_snapshot(module, cfg):
    result = api.run(cfg, dry_run=module.check_mode)
    report = {key: getattr(result, key) for key in RESULT_KEYS}
    report["msg"] = result.line()
    if result.outcome == "busy":
        report["msg"] = "another run holds the lock (cron?): nothing done"
        module.exit_json(changed=False, **report)
    changed = result.outcome in ("saved", "would save")
    for warning in result.warnings:
        module.warn(warning)
    if result.outcome == "failed" or result.exit_code != 0:
        if result.traceback:  # a bug in the engine: its traceback, for -vvv
            report["exception"] = result.traceback
        module.fail_json(changed=changed, **report)
    module.exit_json(changed=changed, **report)


def main():
    run_module({}, do_snapshot)


if __name__ == "__main__":
    main()
