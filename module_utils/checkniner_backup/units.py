"""Times and sizes as the engine writes them: UTC everywhere, sizes for people."""

import datetime as dt


def utcnow():
    return dt.datetime.now(dt.timezone.utc)


def human_size(size):
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024.0
    return f"{size} B"
