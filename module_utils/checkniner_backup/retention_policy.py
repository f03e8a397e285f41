"""The retention policy of `checkniner-backup prune` (CHECKNINER_KEEP_*, CHECKNINER_PRUNE_REMOTE) and its durations.

Parsed by prune only, from the text config.load kept (Config.keep, Config.prune_remote_text), not by load() itself: a
typo in a retention variable must not stop the backups themselves; prune refuses it (exit 2) and deletes nothing.
retention.py applies the policy.
"""

import re
from dataclasses import dataclass

from . import options
from .errors import ConfigError

RETENTION_VARS = options.RETENTION_VARS  # {"within": "CHECKNINER_KEEP_WITHIN", "hourly": ..., ...}
PRUNE_REMOTE_VAR = "CHECKNINER_PRUNE_REMOTE"
_DURATION_PART = re.compile(r"(\d+)([mhdw])")
_DURATION_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value, what="CHECKNINER_KEEP_WITHIN"):
    """'24h', '7d', '90m', '2w', '1d12h' or '0' -> seconds."""
    text = str(value).strip().lower()
    if text == "0":
        return 0
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"{what} must be a duration like 24h, 7d, 90m or 1d12h (m, h, d, w), not {value!r}")
    return sum(int(n) * _DURATION_UNIT[u] for n, u in parts)


def format_duration(seconds):
    if not seconds:
        return "0"
    if seconds > 86400 and seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def _default(tier):
    return options.BY_NAME[RETENTION_VARS[tier]].default


@dataclass(frozen=True)
class Retention:
    """The tiered policy: every archive within `within_seconds` of the newest, then the newest per hour, day, ISO
    week and month for that many of the most recent buckets that have archives (0 turns a tier off). The defaults
    are the option table's."""

    within_seconds: int = parse_duration(_default("within"))
    hourly: int = int(_default("hourly"))
    daily: int = int(_default("daily"))
    weekly: int = int(_default("weekly"))
    monthly: int = int(_default("monthly"))

    def as_dict(self):
        return {
            "within": format_duration(self.within_seconds),
            "hourly": self.hourly,
            "daily": self.daily,
            "weekly": self.weekly,
            "monthly": self.monthly,
        }


def parse_policy(keep):
    """The retention policy from the text of the CHECKNINER_KEEP_* variables ({variable: text}, an unset or empty one
    keeps its default: 24h, 48 hourly, 30 daily, 12 weekly, 24 monthly)."""
    default = Retention()
    counts = {}
    for key in ("hourly", "daily", "weekly", "monthly"):
        var = RETENTION_VARS[key]
        raw = (keep.get(var) or "").strip()
        if not raw:
            counts[key] = getattr(default, key)
            continue
        if not raw.isdigit():
            raise ConfigError(f"{var} must be a whole number of {key} archives to keep (0 turns it off), not {raw!r}")
        counts[key] = int(raw)
    raw = (keep.get(RETENTION_VARS["within"]) or "").strip()
    within = parse_duration(raw, RETENTION_VARS["within"]) if raw else default.within_seconds
    return Retention(within_seconds=within, **counts)


def prune_remote(text):
    """Whether prune applies the policy to the S3 destinations too (CHECKNINER_PRUNE_REMOTE: empty or 1, the
    default) or to the local directory only (0: S3 is pruned elsewhere, with credentials that may delete)."""
    raw = (text or "").strip().lower()
    if raw not in ("", "0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"{PRUNE_REMOTE_VAR} must be 1 (prune S3 too) or 0 (the local directory only), not {raw!r}")
    return raw not in ("0", "false", "no")
