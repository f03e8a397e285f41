"""The backup flow: config -> snapshot -> fingerprint -> archive -> stores. `run` is command.py; the phases are
detect.py (change detection), save.py (the one way an archive is written) and upload.py (the outbox and S3)."""
