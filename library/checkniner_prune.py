#!/usr/bin/python
"""Ansible module checkniner_prune: tiered retention of checkniner-backup archives, locally and in S3."""

DOCUMENTATION = r"""
module: checkniner_prune
short_description: Delete the checkniner-backup archives a tiered retention policy does not keep
description:
  - Applies the retention policy of C(checkniner-backup prune) to the local archive directory and, separately, to
    every configured S3 destination.
  - Keeps every archive within O(keep_within) of the newest one, then the newest archive of each of the
    O(keep_hourly) most recent hours that have archives, and the same per day (O(keep_daily)), ISO week
    (O(keep_weekly)) and month (O(keep_monthly)); buckets are UTC. This is restic's C(forget --keep-*) policy.
  - Regular archives (plain and encrypted alike) form one timeline; pre-restore safety archives form their own, so
    a restore never displaces a regular archive and safety copies are thinned only against each other.
  - Never deletes the newest archive, an archive still waiting in any upload outbox, the archive the local
    C(latest.tar.gz) link names, or in a destination the archive its C(latest.json) names.
  - Each option falls back to its environment variable on the managed host (C(CHECKNINER_KEEP_WITHIN),
    C(CHECKNINER_KEEP_HOURLY), C(CHECKNINER_KEEP_DAILY), C(CHECKNINER_KEEP_WEEKLY), C(CHECKNINER_KEEP_MONTHLY)),
    then to the defaults.
  - Changed only when an archive was deleted (in check mode, when one would be). A destination that fails is
    reported and the others are still pruned; the task then fails.
  - The database is not contacted.
  - With C(CHECKNINER_PRUNE_REMOTE=0) in the host's environment (role variable C(checkniner_backup_prune_remote)),
    only the local directory is pruned and each S3 destination is reported as not pruned here; the pruner does it
    with its own credentials (C(playbooks/prune.yml)).
  - Archives still under an S3 Object Lock retention are left and listed in RV(locations[].locked).
  - Counts only archives that authenticate, from a ranged read of their head (cached, so each object is read once),
    signed by a key of O(trusted_keys) or the host's own, naming itself and its prefix; locally, also what the
    host recorded saving. Any other object (planted, unsigned, a copy under another name, encrypted) gets no slot, is
    never deleted, and is listed in RV(locations[].unauthenticated).
version_added: "0.1.0"
author:
  - checkniner-backup maintainers
extends_documentation_fragment:
  - checkniner_backup
attributes:
  check_mode:
    support: full
    description:
      - Lists the archives each location holds and applies the policy; deletes nothing. RV(locations) and the diff
        name exactly the archives a real run would delete.
  diff_mode:
    support: full
    description:
      - Per location, every archive before and the archives kept after; the removed lines are exactly what goes.
options:
  keep_within:
    description:
      - Keep every archive within this duration of the newest archive (not of now, so a quiet period never erodes
        the history).
      - A duration such as C(24h), C(7d), C(90m), C(2w) or C(1d12h); C(0) turns it off.
      - Default is C(CHECKNINER_KEEP_WITHIN), else C(24h).
    type: str
  keep_hourly:
    description:
      - Keep the newest archive of each of this many most recent hours that have archives; C(0) turns it off.
      - Default is C(CHECKNINER_KEEP_HOURLY), else C(48).
    type: int
  keep_daily:
    description:
      - The same per day. Default is C(CHECKNINER_KEEP_DAILY), else C(30).
    type: int
  keep_weekly:
    description:
      - The same per ISO week. Default is C(CHECKNINER_KEEP_WEEKLY), else C(12).
    type: int
  keep_monthly:
    description:
      - The same per month. Default is C(CHECKNINER_KEEP_MONTHLY), else C(24).
    type: int
notes:
  - Waits up to two minutes for a backup run that holds the lock; if it still does, nothing is pruned and the task
    reports C(busy), unchanged.
seealso:
  - module: checkniner_archive_info
  - module: checkniner_upload
"""

EXAMPLES = r"""
- name: Apply the default policy (24h, 48 hourly, 30 daily, 12 weekly, 24 monthly), locally and in S3
  checkniner_prune:
    backup_dir: /var/backups/checkniner
    s3_bucket: checkniner-backups

- name: What would a shorter policy delete?
  checkniner_prune:
    backup_dir: /var/backups/checkniner
    keep_within: 12h
    keep_daily: 14
    keep_monthly: 12
  check_mode: true
  diff: true
  register: prune_plan

- name: Show the archives that would go
  ansible.builtin.debug:
    msg: "{{ prune_plan.locations | map(attribute='delete') | flatten }}"
"""

RETURN = r"""
deleted:
  description: How many archives were deleted, over every location (0 in check mode).
  returned: success
  type: int
  sample: 287
busy:
  description: A backup run held the lock for two minutes; nothing was pruned.
  returned: always
  type: bool
  sample: false
policy:
  description: The policy applied.
  returned: always
  type: dict
  sample: {"within": "24h", "hourly": 48, "daily": 30, "weekly": 12, "monthly": 24}
locations:
  description: One entry per location, C(local) first, then each S3 destination.
  returned: always
  type: list
  elements: dict
  contains:
    location:
      description: C(local), or the destination's name (C(s3) for the primary one).
      type: str
    where:
      description: The directory, or the bucket, prefix and endpoint.
      type: str
    archives:
      description: Archives found there.
      type: int
    kept:
      description: Archives kept.
      type: int
    keep:
      description: Every archive kept, with the reasons (C(newest), C(within), C(hourly), C(daily), C(weekly),
        C(monthly), C(pending upload), C(latest.tar.gz), C(latest.json)).
      type: dict
      sample: {"2026-11-23T214052Z.tar.gz": ["newest", "within", "hourly", "daily", "weekly", "monthly"]}
    delete:
      description: Exactly the archives that go (in check mode, that would go), oldest first.
      type: list
      elements: str
    deleted:
      description: Archives actually deleted there.
      type: int
    locked:
      description: Archives the policy would delete that are left because their S3 Object Lock retention has not
        ended (their reason in RV(locations[].keep) says until when).
      type: list
      elements: str
    unauthenticated:
      description: Objects left because they do not authenticate, with why (C(not signed), a key not trusted, the
        signed manifest of another archive, C(encrypted)); never deleted by prune.
      type: dict
      sample: {"2026-11-23T235900Z.tar.gz": "not signed"}
    heads_read:
      description: Heads read by a ranged request this time (the others came from the cache).
      type: int
    skipped:
      description: True for an S3 destination this host does not prune (C(CHECKNINER_PRUNE_REMOTE=0)).
      type: bool
      returned: when true
    error:
      description: Why this location failed, or null.
      type: str
msg:
  description: One line per location.
  returned: always
  type: str
  sample: "local (/var/backups/checkniner): 577 archive(s), kept 358, deleted 219: 2026-11-22T000500Z.tar.gz ..."
"""

from ansible.module_utils.checkniner_backup import api
from ansible.module_utils.checkniner_backup_ansible import run_module

POLICY_OPTIONS = {f"keep_{key}": var for key, var in api.RETENTION_VARS.items()}


def policy_of(module, cfg):
    """The options over the host's CHECKNINER_KEEP_* variables; the engine validates them (ConfigError)."""
    keep = dict(cfg.keep)
    for option, var in POLICY_OPTIONS.items():
        if module.params[option] is not None:
            keep[var] = str(module.params[option])
    return api.parse_policy(keep)


def diff_of(result):
    """Per location, every archive before and the kept ones after: the removed lines are exactly what goes."""
    before, after = [], []
    for loc in result["locations"]:
        for name in sorted(set(loc["keep"]) | set(loc["delete"])):
            before.append(f"{loc['location']}: {name}")
            if name in loc["keep"]:
                after.append(f"{loc['location']}: {name}")
    return {
        "before": "".join(line + "\n" for line in before),
        "after": "".join(line + "\n" for line in after),
        "before_header": "archives",
        "after_header": "archives kept",
    }


def do_prune(module, cfg):
    result = api.prune(cfg, dry_run=module.check_mode, policy=policy_of(module, cfg)).as_dict()
    report = {key: result[key] for key in ("deleted", "busy", "policy", "locations")}
    for warning in result.get("warnings") or []:
        module.warn(warning)
    if result["busy"]:
        module.exit_json(changed=False, msg="another run held the lock (cron?): nothing pruned", **report)
    if module.check_mode:
        changed = any(loc["delete"] for loc in result["locations"])
    else:
        changed = result["deleted"] > 0
    report["msg"] = "; ".join(api.prune_summary(loc) for loc in result["locations"])
    if module._diff:
        report["diff"] = diff_of(result)
    if not result["ok"]:
        module.fail_json(changed=changed, **report)
    module.exit_json(changed=changed, **report)


def main():
    run_module(
        dict(
            keep_within=dict(type="str"),
            keep_hourly=dict(type="int"),
            keep_daily=dict(type="int"),
            keep_weekly=dict(type="int"),
            keep_monthly=dict(type="int"),
        ),
        do_prune,
        require_database=False,
    )


if __name__ == "__main__":
    main()
