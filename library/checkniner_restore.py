#!/usr/bin/python
"""Ansible module checkniner_restore: restore a checkniner-backup archive and prove it, or run the restore drill."""

DOCUMENTATION = r"""
module: checkniner_restore
short_description: Restore a checkniner-backup archive and prove it, or run the restore drill
description:
  - With O(state=restored), restores an archive (C(latest), a name, or a path; local or from S3) into the target
    database, then proves it, the restored business data must have the archive's fingerprint.
  - The archive is downloaded and its checksum checked against the one recorded when it was saved.
  - O(mode=sql) streams the C(pg_dump) SQL from the archive into C(psql) in one transaction (exact, whole database),
    checking the archive's members as they go by; the transaction commits only after they matched and every table
    holds the archive's row count, so a damaged archive changes nothing.
  - O(mode=fixtures) checks every member first, then loads the Django fixtures with the application's own Django
    (across database engines, or a subset with O(apps)).
  - C(changed=false) when the target already matches the archive; nothing is replayed then.
  - Overwriting the configured live database (C(DATABASE_URL)) needs O(confirm=true) and first saves a
    C(<stamp>-pre-restore.tar.gz) safety archive in the backup directory.
  - With O(state=verified), runs the restore drill, restores into a scratch database on the configured server, proves
    the business fingerprint and every table's row count, checks for missing migrations, and drops the scratch
    database; the task fails when the archive does not restore.
  - The drill proves each copy O(source) names, the local one and the one in each S3 destination (downloaded through
    its C(latest.json)); it fails when any copy fails, naming which. A copy byte for byte equal to one already proven
    is proven by that equality, not restored twice.
version_added: "0.1.0"
author:
  - checkniner-backup maintainers
extends_documentation_fragment:
  - checkniner_backup
attributes:
  check_mode:
    support: partial
    description:
      - O(state=restored) fetches and checks the archive and compares it with the target, reports whether the restore
        would change anything, and does not touch the database.
      - O(state=verified) does not run in check mode (the drill creates a scratch database); the task is skipped.
  diff_mode:
    support: full
    description:
      - Reports per business app the fingerprint of the target (before) and of the archive (after), and per table
        the row counts, as far as the comparison got (a target whose row counts already differ is not dumped).
options:
  state:
    description:
      - V(restored) restores the archive into the target; V(verified) runs the restore drill in a scratch database.
    type: str
    choices: [restored, verified]
    default: restored
  archive:
    description:
      - V(latest) (the newest archive, local or in S3), an archive name (C(YYYY-MM-DDTHHMMSSZ.tar.gz)), or a path on
        the managed host.
      - Not with O(at) (leave it V(latest)).
    type: str
    default: latest
  at:
    description:
      - Restore (or, with O(state=verified), drill) the newest archive saved at or before this time instead of the
        newest, the database's state at that time (archives are saved only on change). Locally and in every S3
        destination, by the time in the archive's name (its creation time, UTC); a destination is listed for it
        (paginated), its C(latest.json) names only the newest.
      - An ISO 8601 time (C(2026-11-30T14:00:00Z); C(2026-11-30 14:00) and a date C(2026-11-30), its midnight, are
        UTC) or a time ago (C(-2h), C(-30m), C(-1d), C(-1w)). A time in the future takes the newest.
      - A time before the oldest archive fails the task with one line naming the oldest archive and its time.
    type: str
  mode:
    description:
      - V(sql) restores the whole database exactly from the SQL; V(fixtures) loads the Django fixtures.
    type: str
    choices: [sql, fixtures]
    default: sql
  apps:
    description:
      - With O(mode=fixtures), load only these apps' fixtures (default every fixture in the archive).
    type: list
    elements: str
  target_database_url:
    description:
      - Restore into this database instead of the configured one (O(database_url) or C(DATABASE_URL)); created when
        it does not exist. Default is the C(CHECKNINER_RESTORE_TARGET_DATABASE_URL) environment variable.
      - The password in it is masked in every result, whichever way it reached the module.
    type: str
  source:
    description:
      - With O(state=verified), which copies the drill restores and proves. V(all) the local one (when the backup
        directory holds an archive) and the one in every S3 destination; V(local) the local one; V(s3) the one in every
        S3 destination.
      - Default V(all). Only for O(state=verified).
    type: str
    choices: [all, local, s3]
    aliases: [from]
  confirm:
    description:
      - Confirm overwriting the configured live database. Without it, a restore whose target is the live database
        fails before anything is touched. Not needed for another target or in check mode.
    type: bool
    default: false
  lock_timeout:
    description:
      - SQL mode over an existing database, how many seconds to wait for other sessions that hold its tables (the
        running application). After that the task fails naming them (pid, application, client, state), and nothing
        is changed.
    type: float
    default: 30
  terminate_sessions:
    description:
      - SQL mode over an existing database, end its other sessions first (the role needs the right to, e.g. the same
        role as the application's sessions). Better still, stop the application (see C(playbooks/restore.yml)).
    type: bool
    default: false
  allow_unsigned:
    description:
      - Accept, with a warning, an archive that is unsigned or signed by a key the host does not trust. By default
        such an archive fails the task before any database is touched, also when no trusted keys are configured; the
        host trusts the keys of C(CHECKNINER_TRUSTED_KEYS) and its own (from C(CHECKNINER_SIGNING_KEY)).
      - For one task, e.g. archives written before signing was configured. A signature that does not match its
        manifest (a tampered archive) fails the task even so.
    type: bool
    default: false
notes:
  - A restore whose proof fails (restored, but the business data differs from the archive) fails the task with
    C(changed=true).
seealso:
  - module: checkniner_archive_info
  - module: checkniner_snapshot
"""

EXAMPLES = r"""
- name: Would restoring the newest archive change the live database?
  checkniner_restore:
  check_mode: true
  diff: true

- name: Restore the newest archive over the live database
  checkniner_restore:
    archive: latest
    confirm: true
  register: restored

- name: Restore the database as it was at 14:00 UTC yesterday evening's incident onto a staging copy
  checkniner_restore:
    at: "2026-11-30T14:00:00Z"
    target_database_url: "{{ vault_staging_database_url }}"

- name: Restore one host's archive onto another database (a staging copy)
  checkniner_restore:
    archive: 2026-11-23T214052Z.tar.gz
    target_database_url: "{{ vault_staging_database_url }}"

- name: Load only the checkouts fixtures into a migrated database
  checkniner_restore:
    mode: fixtures
    apps: [checkouts]
    target_database_url: "{{ vault_scratch_database_url }}"

- name: Restore drill of every copy, local and off-site (scratch database, dropped afterwards)
  checkniner_restore:
    state: verified

- name: Restore drill of the off-site copies only
  checkniner_restore:
    state: verified
    source: s3
"""

RETURN = r"""
ok:
  description: The proof holds, the target's business data has the archive's fingerprint.
  returned: always
  type: bool
archive:
  description: Name of the archive restored.
  returned: success
  type: str
  sample: 2026-11-23T214052Z.tar.gz
source:
  description: Where the archive came from, C(local), C(path) or the S3 destination's name.
  returned: success
  type: str
  sample: s3
mode:
  description: The restore mode.
  returned: when O(state=restored)
  type: str
target:
  description: The target database, without password.
  returned: when O(state=restored)
  type: str
  sample: database 'checkniner' on db.example:5432
live:
  description: Whether the target is the configured live database.
  returned: when O(state=restored)
  type: bool
created_database:
  description: Whether the target database was created.
  returned: when O(state=restored)
  type: bool
safety_archive:
  description: The pre-restore archive saved before overwriting the live database.
  returned: when O(state=restored)
  type: str
signed_by:
  description:
    - Fingerprint (C(SHA256:...)) of the key that signed the archive, null when it is unsigned.
    - An archive that is unsigned or signed by a key the host does not trust (C(CHECKNINER_TRUSTED_KEYS) and the host's
      own key) fails the task before any database is touched, unless O(allow_unsigned=true), which warns.
  returned: success
  type: str
  sample: SHA256:Zk2l1H0Hq8rS9tGm3bQxWm6aI0r8Jm1nQ2d7cP0xY4o
fingerprint:
  description: Business fingerprint of the archive (C(expected)) and of the target (C(actual), when computed).
  returned: success
  type: dict
apps:
  description: Per business app, C(match), C(expected) (the archive's fixture digest) and C(actual) (the target's).
  returned: success
  type: dict
tables:
  description: Per table (SQL mode and the drill), C(match), C(expected) and C(actual) row counts.
  returned: success
  type: dict
schema:
  description: SQL mode and the drill, for archives that recorded their schema, C(match) and the C(differences)
    (tables whose columns, constraints, indexes, triggers, policies or rules differ from the archive's, functions,
    publications, or C(large objects)), and a C(note) when the archive's digests are of an older form, not compared.
  returned: when the target was proven in SQL mode
  type: dict
  sample: {"match": true, "differences": []}
fixtures:
  description: The apps loaded (fixtures mode), in load order, each with the number of objects in its fixture.
  returned: when O(state=restored)
  type: list
  elements: dict
extra_tables:
  description: Tables of the target the archive does not hold (left as they are).
  returned: success
  type: list
  elements: str
scratch_database:
  description: The drill's scratch database.
  returned: when O(state=verified)
  type: str
dropped:
  description: Whether the drill's scratch database was dropped.
  returned: when O(state=verified)
  type: bool
locations:
  description:
    - Per copy the drill proved or failed, in order (the top-level fields describe the first one restored).
    - Each has C(location) (C(local), an S3 destination's name, or C(path)), C(where), C(archive), C(sha256), C(ok),
      C(message) and C(proven_with) (the location whose restore proved this byte-identical copy, or null).
  returned: when O(state=verified)
  type: list
  elements: dict
  sample: [{location: local, archive: 2026-11-23T214052Z.tar.gz, ok: true, proven_with: null}]
missing_migrations:
  description: Migrations the application has and the restored archive lacks (drill).
  returned: when O(state=verified)
  type: list
  elements: str
duration:
  description: Seconds it took.
  returned: success
  type: float
msg:
  description: One line saying what was done and proven.
  returned: always
  type: str
  sample: "restored 2026-11-23T214052Z.tar.gz into database 'checkniner' on local socket; proven: business data matches"
"""

from ansible.module_utils.checkniner_backup import api
from ansible.module_utils.checkniner_backup_ansible import run_module


def diff_of(result):
    """before: what the target holds; after: what the archive holds (per business app and per table)."""
    before = {"apps": {}, "tables": {}}
    after = {"apps": {}, "tables": {}}
    for app, row in (result.get("apps") or {}).items():
        before["apps"][app] = row.get("actual")
        after["apps"][app] = row.get("expected")
    for table, row in (result.get("tables") or {}).items():
        before["tables"][table] = row.get("actual")
        after["tables"][table] = row.get("expected")
    fingerprint = result.get("fingerprint") or {}
    before["fingerprint"] = fingerprint.get("actual")
    after["fingerprint"] = fingerprint.get("expected")
    target = result.get("target", "target")
    return {
        "before": before,
        "after": after,
        "before_header": target,
        "after_header": result.get("archive", "archive"),
    }


def report(module, result, changed):
    """End the task with a restore's or a drill's result (its as_dict(): passed, or carried by ProofFailed)."""
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    result.pop("check_mode", None)
    result.pop("changed", None)
    msg = result.pop("message", "")
    if module._diff and result.get("mode"):
        result["diff"] = diff_of(result)
    if not result.get("ok"):
        module.fail_json(msg=msg, changed=changed, **result)
    module.exit_json(msg=msg, changed=changed, **result)


def restore_request(module):
    params = module.params
    return api.RestoreRequest(
        archive=params["archive"],
        mode=params["mode"],
        apps=params["apps"],
        target_url=params["target_database_url"],
        yes=params["confirm"],
        check=module.check_mode,
        lock_timeout=params["lock_timeout"],
        terminate_sessions=params["terminate_sessions"],
        at=params["at"],
        allow_unsigned=params["allow_unsigned"],
        spelling=api.MODULE,
    )


def check_options(module):
    """Before the configuration is read: the restore's own rules (the engine's), then the drill's."""
    params = module.params
    restore_request(module).validate()
    if params["state"] == "verified" and (params["apps"] or params["target_database_url"] or params["mode"] != "sql"):
        module.fail_json(msg="state=verified restores the SQL into a scratch database: drop mode, apps and target")
    if params["state"] == "restored" and params["source"]:
        module.fail_json(
            msg="source is for state=verified (the drill); a restore takes archive=latest, a name or a path"
        )


def do_restored(module, cfg):
    try:
        result = api.restore(cfg, restore_request(module))
    except api.ProofFailed as exc:  # restored, and the proof does not hold: every difference in the failed task
        result = exc.result
    report(module, result.as_dict(), bool(result.changed))


def do_verified(module, cfg):
    if module.check_mode:
        module.exit_json(
            changed=False, skipped=True, msg="check mode: the restore drill creates a scratch database, not run"
        )
    params = module.params
    source = params["source"] or "all"
    request = api.VerifyRequest(
        archive=params["archive"],
        source=source,
        at=params["at"],
        allow_unsigned=params["allow_unsigned"],
        spelling=api.MODULE,
    )
    try:
        result = api.verify(cfg, request)
    except api.ProofFailed as exc:  # the drill ran and a copy failed: every location in the failed task
        result = exc.result
    report(module, result.as_dict(), False)


def main():
    run_module(
        dict(
            state=dict(type="str", choices=["restored", "verified"], default="restored"),
            archive=dict(type="str", default="latest"),
            at=dict(type="str"),
            mode=dict(type="str", choices=["sql", "fixtures"], default="sql"),
            apps=dict(type="list", elements="str"),
            target_database_url=dict(type="str", no_log=True),
            confirm=dict(type="bool", default=False),
            lock_timeout=dict(type="float", default=30),
            terminate_sessions=dict(type="bool", default=False),
            allow_unsigned=dict(type="bool", default=False),
            source=dict(type="str", choices=list(api.SOURCES), aliases=["from"]),
        ),
        {"restored": do_restored, "verified": do_verified},
        require_database=lambda params: params["state"] == "verified",
        validate=check_options,
    )


if __name__ == "__main__":
    main()
