#!/usr/bin/python
"""Ansible module checkniner_archive_info: list checkniner-backup archives (local and S3) and resolve latest."""

DOCUMENTATION = r"""
module: checkniner_archive_info
short_description: List checkniner-backup archives, locally and in S3, and resolve C(latest)
description:
  - Lists the archives in the local archive directory, and with O(remote=true) those in every configured S3
    destination.
  - Resolves C(latest), locally as the newest regular archive (the one C(latest.tar.gz) points at), in S3 from the
    C(latest.json) pointer (one request, however many archives exist).
  - With O(at), shows which archive a restore at that time takes, the newest saved at or before it in each location,
    as C(checkniner-backup list --at).
  - Read-only, never changes anything; the database is not contacted.
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
options:
  local:
    description:
      - List the local archive directory (O(backup_dir)). A directory that does not exist yet has no archives.
    type: bool
    default: true
  remote:
    description:
      - List the archives in S3 as well (needs O(s3_bucket) or C(S3_BUCKET_NAME)).
    type: bool
    default: false
  at:
    description:
      - List only the archive each location would restore at this time, the newest saved at or before it (the
        same forms as the checkniner_restore module's C(at), an ISO 8601 time like C(2026-11-30T14:00:00Z) or a time
        ago like C(-2h)). A time before the oldest archive fails with one line naming it.
    type: str
seealso:
  - module: checkniner_snapshot
  - module: checkniner_restore
"""

EXAMPLES = r"""
- name: Which archives are there, here and in S3?
  checkniner_archive_info:
    backup_dir: /var/backups/checkniner
    remote: true
  register: backups

- name: Newest archive in S3
  ansible.builtin.debug:
    msg: "{{ backups.remote_latest.s3 }}"

- name: Which archive holds the database as it was two hours ago?
  checkniner_archive_info:
    remote: true
    at: -2h

- name: Only S3, from a host without a local archive directory
  checkniner_archive_info:
    local: false
    remote: true
    s3_bucket: checkniner-backups
"""

RETURN = r"""
archives:
  description: Local archives, oldest first (with O(at), only the one a restore at that time takes).
  returned: when O(local=true)
  type: list
  elements: dict
  contains:
    name:
      description: Archive name.
      type: str
      sample: 2026-11-23T214052Z.tar.gz
    size:
      description: Size in bytes.
      type: int
    fingerprint:
      description: Business fingerprint recorded when it was saved (null when unknown).
      type: str
    pending_upload:
      description: Destinations it still waits in the outbox for.
      type: list
      elements: str
    latest:
      description: Whether it is the latest local archive (the newest regular one; every save points C(latest.tar.gz)
        at it).
      type: bool
    future:
      description:
        - Whether its name is later than now plus an hour (a clock gone wrong, or a planted name). Such an archive is
          kept, but never taken as C(latest), used to name the next archive, or counted as the newest by retention.
      type: bool
    location:
      description: Always C(local).
      type: str
latest:
  description: The latest local archive (the newest regular one not named in the future; every save points
    C(latest.tar.gz) at it), or null.
  returned: when O(local=true)
  type: str
  sample: 2026-11-23T214052Z.tar.gz
backup_dir:
  description: Absolute path of the local archive directory.
  returned: when O(local=true)
  type: str
remote_archives:
  description: Archives in S3, oldest first per destination (with O(at), the one of each a restore at that time takes).
  returned: when O(remote=true)
  type: list
  elements: dict
  contains:
    name:
      description: Archive name.
      type: str
    size:
      description: Size in bytes.
      type: int
    modified:
      description: Last-modified time (ISO 8601).
      type: str
    location:
      description: Destination name (C(s3)).
      type: str
    latest:
      description: Whether the destination's C(latest.json) pointer names it.
      type: bool
    future:
      description: Whether its name is later than now plus an hour (never taken as C(latest)).
      type: bool
remote_latest:
  description: Per destination, the archive its C(latest.json) pointer names (null when there is no pointer).
  returned: when O(remote=true)
  type: dict
  sample: {"s3": "2026-11-23T214052Z.tar.gz"}
remote_pointers:
  description: Per destination, the whole C(latest.json) document (name, sha256, size, fingerprint, updated).
  returned: when O(remote=true)
  type: dict
"""

from ansible.module_utils.checkniner_backup import api
from ansible.module_utils.checkniner_backup_ansible import run_module


def check_options(module):
    if not (module.params["local"] or module.params["remote"]):
        module.fail_json(msg="nothing to list: set local or remote (or both) to true")


def do_list(module, cfg):
    result = {}
    if module.params["local"]:
        bdir = api.BackupDir(cfg.require_backup_dir(), create=False)
        archives = [row.as_dict() for row in api.local_archives(cfg, bdir)]
        result.update(archives=archives, latest=api.local_latest(bdir), backup_dir=bdir.path)
    if module.params["remote"]:
        pointers = api.remote_pointers(cfg).as_dict() if cfg.destinations else {}
        result.update(
            remote_archives=[row.as_dict() for row in api.remote_archives(cfg)],
            remote_pointers=pointers,
            remote_latest={dest: (doc or {}).get("name") for dest, doc in pointers.items()},
        )
    if module.params["at"]:  # only the archive a restore at that time takes, one per location
        chosen = api.archives_at(result.get("archives", []) + result.get("remote_archives", []),
                                 api.parse_at(module.params["at"], "at"))  # fmt: skip
        for key in ("archives", "remote_archives"):
            if key in result:
                result[key] = [row for row in result[key] if row in chosen]
    module.exit_json(changed=False, **result)


def main():
    run_module(
        dict(local=dict(type="bool", default=True), remote=dict(type="bool", default=False), at=dict(type="str")),
        do_list,
        require_database=False,
        validate=check_options,
    )


if __name__ == "__main__":
    main()
