#!/usr/bin/python
"""Ansible module checkniner_upload: make sure a local archive is in S3 with a matching checksum."""

DOCUMENTATION = r"""
module: checkniner_upload
short_description: Make sure a local checkniner-backup archive is in S3 with a matching checksum
description:
  - Makes sure one local archive (by default the newest) is in every configured S3 destination, its size and sha256
    matching the local file, and that the C(latest.json) pointer names it or a newer archive.
  - Unchanged when the object is already there with the matching checksum and the pointer is current; nothing is
    uploaded twice.
  - S3 must be configured (C(s3_bucket) or C(S3_BUCKET_NAME)).
version_added: "0.1.0"
author:
  - checkniner-backup maintainers
extends_documentation_fragment:
  - checkniner_backup
attributes:
  check_mode:
    support: full
    description:
      - Compares the local archive with the S3 object (one HEAD request) and reports C(would upload); uploads nothing.
  diff_mode:
    support: none
options:
  name:
    description:
      - Name of the local archive, as listed by M(checkniner_archive_info), or C(latest) for the newest one.
    type: str
    default: latest
notes:
  - Uploading waits up to two minutes for a backup run that holds the lock; if it still does, nothing is uploaded and
    the task fails with one line saying so (run it again).
seealso:
  - module: checkniner_snapshot
  - module: checkniner_archive_info
"""

EXAMPLES = r"""
- name: Make sure the newest archive reached S3
  checkniner_upload:
    backup_dir: /var/backups/checkniner
    s3_bucket: checkniner-backups
    s3_access_key: "{{ vault_s3_access_key }}"
    s3_secret_key: "{{ vault_s3_secret_key }}"

- name: Send one archive to another S3-compatible endpoint
  checkniner_upload:
    name: 2026-11-23T214052Z.tar.gz
    s3_bucket: checkniner-offsite
    s3_endpoint_url: https://s3.eu-central-1.wasabisys.com
    s3_region: eu-central-1
"""

RETURN = r"""
name:
  description: The archive considered.
  returned: success
  type: str
  sample: 2026-11-23T214052Z.tar.gz
destinations:
  description: What happened in each destination, C(present) (nothing to do), C(uploaded) or, in check mode,
    C(would upload).
  returned: success
  type: dict
  sample: {"s3": "uploaded"}
"""

from ansible.module_utils.checkniner_backup import api
from ansible.module_utils.checkniner_backup_ansible import run_module


def do_upload(module, cfg):
    outcome = api.upload(cfg, module.params["name"], dry_run=module.check_mode)
    module.exit_json(changed=outcome.changed, name=outcome.name, destinations=outcome.destinations)


def main():
    run_module(dict(name=dict(type="str", default="latest")), do_upload, require_database=False)


if __name__ == "__main__":
    main()
