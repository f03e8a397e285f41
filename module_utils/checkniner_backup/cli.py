"""The command line: what cron runs every five minutes, and what operators type on the worst day of the year."""

import argparse
import json
import sys
import traceback

from . import __version__, api


def _stamp():
    return api.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


LOG = {"format": "text"}  # CHECKNINER_BACKUP_LOG_FORMAT, set once the configuration is read


def say(command, text, error=False, fields=None):
    """The one log line: text for people, or one JSON object per line for log shippers."""
    stream = sys.stderr if error else sys.stdout
    if LOG["format"] == "json":
        doc = {
            "ts": _stamp(),
            "program": "checkniner-backup",
            "command": command,
            "level": "error" if error else "info",
        }
        doc.update(fields or {})
        doc["message"] = text
        stream.write(json.dumps(doc, sort_keys=True, default=str) + "\n")
    else:
        stream.write(f"{_stamp()} checkniner-backup {command}: {text}\n")
    stream.flush()


def emit_json(doc):
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")


def cmd_run(args, cfg):
    result = api.run(cfg)
    if args.json:
        emit_json(result.as_dict())
    # a log shipper gets the models that cost Python a row, not the path of every model (run --json has those)
    fields = {k: v for k, v in result.as_dict().items() if v not in (None, "", []) and k not in ("traceback", "models")}
    if result.serializer_models():
        fields["serializer_models"] = result.serializer_models()
    # with --json, stdout holds the one JSON document and the log line goes to stderr
    say("run", result.line(), error=args.json or result.exit_code != 0, fields=fields)
    for warning in result.warnings:
        say("run", f"warning: {warning}", error=True)
    if result.traceback:  # a bug, not a condition of the machine: the one line came first, the details follow
        sys.stderr.write(result.traceback)
    return result.exit_code


def cmd_list(args, cfg):
    rows = [row.as_dict() for row in (api.remote_archives(cfg) if args.remote else api.local_archives(cfg))]
    if args.at:  # only the archive restore --at would take, one per location
        rows = api.archives_at(rows, api.parse_at(args.at))
    if args.json:
        emit_json({"archives": rows})
        return 0
    if not rows:
        print("no archives")
    for row in rows:
        flags = []
        if row.get("latest"):
            flags.append("latest")
        if row.get("future"):
            flags.append("future: named later than now, never latest")
        if row.get("lock"):
            flags.append(f"object lock ({row['lock']['mode']}) until {row['lock']['until']}")
        if row.get("pending_upload"):
            flags.append("pending upload: " + ",".join(row["pending_upload"]))
        print(f"{row['name']}  {api.human_size(row['size']):>10}  {row['location']}  {' '.join(flags)}".rstrip())
    return 0


def cmd_status(args, cfg):
    doc = api.status(cfg).as_dict()
    for warning in doc["warnings"]:
        say("status", f"warning: {warning}", error=True)
    if args.json:
        emit_json(doc)
        return 0
    for key in ("backup_dir", "archives", "latest", "last_success", "last_change", "pending_uploads", "stale"):
        print(f"{key:16} {doc[key]}")
    if doc["last_run"]:
        run = doc["last_run"]
        print(f"{'last_run':16} {run['at']} {run['outcome']} {run.get('reason') or run.get('error') or ''}".rstrip())
    for job in ("drill", "prune"):
        last = doc[f"last_{job}"]
        if last:
            detail = last.get("error") or last.get("archive") or f"deleted {last.get('deleted', 0)}"
            print(f"{'last_' + job:16} {last['at']} {last['outcome']} {detail or ''}".rstrip())
    print(f"{'drill_stale':16} {doc['drill_stale']}")
    slow = doc["serializer_models"]
    if doc["serializer_models_at"]:  # the models whose rows cost Python each, not PostgreSQL's COPY (README)
        print(f"{'serializer':16} {len(slow)} model(s) through Django's serializer at the last dump")
    for model, reason in slow.items():
        print(f"{'':16} {model}: {reason}")
    return 0


def cmd_restore(args, cfg):
    warnings = [w for w in [api.argv_password_warning(args.target_database_url)] if w]
    request = api.RestoreRequest(
        archive=args.archive,
        mode=args.mode,
        apps=args.apps,
        target_url=args.target_database_url,
        yes=args.yes,
        check=args.check,
        lock_timeout=args.lock_timeout,
        terminate_sessions=args.terminate_sessions,
        at=args.at,
        allow_unsigned=args.allow_unsigned,
        spelling=api.CLI,
    )
    try:
        result = api.restore(cfg, request)
    except api.ProofFailed as exc:  # restored, and the proof does not hold: reported in full, like a success
        result = exc.result
    except api.BackupError as exc:
        say("restore", f"failed: {exc}", error=True)  # the one clear line comes first, warnings after it
        for warning in warnings:
            say("restore", warning, error=True)
        return exc.exit_code
    return report("restore", args, result, warnings)


def cmd_verify(args, cfg):
    request = api.VerifyRequest(
        archive=args.archive, source=args.source, at=args.at, allow_unsigned=args.allow_unsigned, spelling=api.CLI
    )
    try:
        result = api.verify(cfg, request)
    except api.ProofFailed as exc:  # the drill ran and a copy failed: reported in full, like a success
        result = exc.result
    return report("verify", args, result)


def report(command, args, result, warnings=()):
    """A restore's or a drill's result (passed, or carried by ProofFailed): the JSON document, the message, the
    warnings; exit 1 when the proof does not hold."""
    if args.json:
        emit_json(result.as_dict())
    say(command, result.message, error=args.json or not result.ok)  # --json: stdout holds one document
    for warning in [*warnings, *(f"warning: {w}" for w in result.warnings)]:
        say(command, warning, error=True)
    return 0 if result.ok else 1


def cmd_prune(args, cfg):
    result = api.prune(cfg, dry_run=args.dry_run).as_dict()
    if args.json:
        emit_json(result)
    if result["busy"]:
        say("prune", "busy: another run held the lock, nothing pruned", error=args.json)
    for loc in result["locations"]:
        say("prune", api.prune_summary(loc), error=args.json or bool(loc["error"]))
    for warning in result["warnings"]:
        say("prune", f"warning: {warning}", error=True)
    return 0 if result["ok"] else 1


def cmd_keygen(args, _cfg):
    if args.public:
        made = api.publish_public(args.path, comment=args.comment)
        if args.json:
            emit_json(made.as_dict())
        else:
            print(f"public key  {made.public_key} ({'written' if made.changed else 'unchanged'})")
            print(made.line)
            print(f"fingerprint {made.fingerprint}")
        return 0
    made = api.keygen(args.path, comment=args.comment)
    if args.json:
        emit_json(made.as_dict())
        return 0
    print(f"private key {made.private_key} (mode 0600: keep it on this host only; CHECKNINER_SIGNING_KEY)")
    print(f"public key  {made.public_key} (one line for CHECKNINER_TRUSTED_KEYS where archives are restored)")
    print(made.line)
    print(f"fingerprint {made.fingerprint}")
    return 0


AT_HELP = (
    "the newest archive saved at or before TIME (the database's state then): ISO 8601 (2026-11-30T14:00:00Z, "
    "2026-11-30 14:00 in UTC, 2026-11-30) or a time ago (-2h, -30m, -1d, -1w); not with --archive NAME|PATH"
)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="checkniner-backup",
        description="Point-in-time backups of a Django + PostgreSQL application. Configuration: environment.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    # every command speaks JSON the same way: one document on stdout, the log line on stderr
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print the result as one JSON document")
    # restore and verify name their archive the same way
    which = argparse.ArgumentParser(add_help=False)
    which.add_argument("--archive", default="latest", help="latest (default), an archive name, or a path to one")
    which.add_argument("--at", metavar="TIME", help=AT_HELP)
    which.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="accept, with a warning, an archive that is unsigned or signed by a key not trusted (by default it is "
        "refused: CHECKNINER_SIGNING_KEY signs, CHECKNINER_TRUSTED_KEYS and this host's own key are trusted)",
    )

    p = sub.add_parser(
        "run", parents=[as_json], help="one iteration: snapshot, save if the business data changed, upload"
    )
    p.set_defaults(func=cmd_run, needs_db=True)

    p = sub.add_parser("list", parents=[as_json], help="list archives (local, or --remote in S3)")
    p.add_argument("--remote", action="store_true", help="list the archives in S3 instead of the local directory")
    p.add_argument("--at", metavar="TIME", help="show only the archive restore --at TIME takes, one per location")
    p.set_defaults(func=cmd_list, needs_db=False)

    p = sub.add_parser("status", parents=[as_json], help="what the last runs did, what waits for upload")
    p.set_defaults(func=cmd_status, needs_db=False)

    p = sub.add_parser(
        "restore",
        parents=[as_json, which],
        help="restore an archive (exactly from SQL, or fixtures) and prove it",
        description="Restore an archive and prove it: the business fingerprint of the restored database must equal "
        "the archive's. Over the live DATABASE_URL it needs --yes and first saves <stamp>-pre-restore.tar.gz.",
    )
    p.add_argument(
        "--mode", choices=("sql", "fixtures"), default="sql", help="sql: exact (default); fixtures: portable"
    )
    p.add_argument("--apps", help="fixtures mode: comma-separated app labels (default: every fixture in the archive)")
    p.add_argument(
        "--target-database-url",
        help="restore into this database instead of DATABASE_URL; for password-less URLs (.pgpass, socket auth): "
        "pass a URL with a password in CHECKNINER_RESTORE_TARGET_DATABASE_URL instead",
    )
    p.add_argument("--yes", action="store_true", help="confirm overwriting the live database")
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="SQL mode over an existing database: wait this long for other sessions holding its tables, then fail "
        "naming them (default 30)",
    )
    p.add_argument(
        "--terminate-sessions", action="store_true", help="SQL mode: end the target database's other sessions first"
    )
    p.add_argument("--check", action="store_true", help="say whether the restore would change anything; change nothing")
    p.set_defaults(func=cmd_restore, needs_db=False)

    p = sub.add_parser(
        "verify",
        parents=[as_json, which],
        help="restore drill: restore each location's copy into a scratch database, prove it, drop it",
        description="The restore drill: the newest archive (or --archive NAME) of the local directory and of each S3 "
        "destination (downloaded through its latest.json) is restored into a scratch database and proven; fails when "
        "any copy fails, naming which. A copy byte for byte equal to one proven is proven by that equality.",
    )
    p.add_argument(
        "--from",
        dest="source",
        default="all",
        metavar="{" + ",".join(api.SOURCES) + ",NAME}",
        help="which copies: all (default: local and every destination), local, s3 (every destination), or the "
        "destination NAME",
    )
    p.set_defaults(func=cmd_verify, needs_db=True)

    p = sub.add_parser(
        "prune",
        parents=[as_json],
        help="tiered retention, locally and in each S3 destination (CHECKNINER_KEEP_*)",
        description="Delete the archives the retention policy does not keep (CHECKNINER_KEEP_WITHIN=24h, "
        "CHECKNINER_KEEP_HOURLY=48, _DAILY=30, _WEEKLY=12, _MONTHLY=24), locally and in each S3 destination. Never "
        "deletes the newest archive, one waiting for upload, or the one latest.tar.gz or latest.json names.",
    )
    p.add_argument("--dry-run", action="store_true", help="list exactly what would be deleted; delete nothing")
    p.set_defaults(func=cmd_prune, needs_db=False)

    p = sub.add_parser(
        "keygen",
        parents=[as_json],
        help="create a key pair that signs archives: PATH (private, 0600) and PATH.pub (public)",
        description="Create an Ed25519 signing key: the private key at PATH (mode 0600; point CHECKNINER_SIGNING_KEY "
        "at it on the host that writes archives) and its public key line at PATH.pub (add it to the "
        "CHECKNINER_TRUSTED_KEYS file where archives are restored). Never overwrites an existing file.",
    )
    p.add_argument("path", metavar="PATH", help="where the private key goes; the public key goes to PATH.pub")
    p.add_argument("--comment", help="the public key's comment (default: checkniner-backup@HOSTNAME)")
    p.add_argument(
        "--public",
        action="store_true",
        help="write PATH.pub from the private key already at PATH (a key given as text); nothing else is touched",
    )
    p.set_defaults(func=cmd_keygen, needs_db=False, needs_config=False)
    return parser


def _glued(argv):
    """`--at -2h`: argparse takes a value starting with "-" for an option; glued (--at=-2h), it is the value."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(argv[:-1]):
        if arg == "--at" and argv[i + 1].startswith("-") and argv[i + 1][1:2].isdigit():
            argv[i : i + 2] = [f"--at={argv[i + 1]}"]
            break
    return argv


def main(argv=None, env=None):
    parser = build_parser()
    args = parser.parse_args(_glued(argv))
    command = args.command
    try:
        cfg = None
        if getattr(args, "needs_config", True):  # keygen needs none: it runs where nothing else is configured
            cfg = api.load_config(env, require_database=args.needs_db)
            LOG["format"] = cfg.log_format
            if sys.stderr.isatty() and not getattr(args, "json", False) and LOG["format"] == "text":
                api.show_progress(sys.stderr)  # people at a terminal; never cron's log, a JSON document or a shipper
        return args.func(args, cfg)
    except api.BackupError as exc:
        say(command, f"failed: {exc}", error=True)
        for warning in exc.warnings:
            say(command, f"warning: {warning}", error=True)
        return exc.exit_code
    except KeyboardInterrupt:
        say(command, "interrupted", error=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug, still reported as one line first, the traceback after it
        say(command, f"failed: unexpected {exc.__class__.__name__}: {exc}", error=True)
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
