"""The original backup pipeline, reimplemented faithfully as the baseline (one iteration, what cron ran).

1. `pg_dump <db> > <db>.sql`;
2. one `python manage.py dumpdata APP > APP.json` process per installed app (Django set up once per app);
3. if a previous archive exists, compare SHA1 of the new auth.json/checkouts.json with the previous archive's:
   identical means "nothing changed", the snapshot is thrown away;
4. otherwise `tar -czf <stamp>.tar.gz` of everything, and `latest.tar.gz` points at it.

S3 upload is left out, for every contender alike. Charitable to the baseline: the fixtures are put first in the
tar, so reading the previous archive's auth.json/checkouts.json stops long before the SQL.

    python old_pipeline.py OUTDIR --database-url URL --manage-py PATH --apps admin,auth,... [--python PY]
"""

import argparse
import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from urllib.parse import unquote, urlparse

COMPARED = ("auth.json", "checkouts.json")


def sha1(path):
    digest = hashlib.sha1()  # noqa: S324 - the original's choice, reproduced
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def previous_sha1s(latest):
    """SHA1 of auth.json/checkouts.json inside the previous archive (stops reading once both are seen)."""
    found = {}
    with tarfile.open(latest, "r:gz") as tar:
        for member in iter(tar.next, None):
            if member.name in COMPARED:
                digest = hashlib.sha1()  # noqa: S324
                with tar.extractfile(member) as src:
                    for block in iter(lambda src=src: src.read(1 << 20), b""):
                        digest.update(block)
                found[member.name] = digest.hexdigest()
                if len(found) == len(COMPARED):
                    break
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--manage-py", required=True)
    parser.add_argument("--apps", required=True)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()

    url = urlparse(args.database_url)
    dbname = unquote(url.path.lstrip("/"))
    env = dict(os.environ, DATABASE_URL=args.database_url, PGPASSWORD=unquote(url.password or ""))
    os.makedirs(args.outdir, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H%M%S.%fZ")
    work = os.path.join(args.outdir, f"snapshot-{stamp}")
    os.makedirs(work)
    try:
        sql = f"{dbname}.sql"
        with open(os.path.join(work, sql), "wb") as out:
            subprocess.run(
                ["pg_dump", "-h", url.hostname, "-p", str(url.port), "-U", unquote(url.username), dbname],
                stdout=out,
                env=env,
                check=True,
            )
        apps = args.apps.split(",")
        for app in apps:
            with open(os.path.join(work, f"{app}.json"), "wb") as out:
                subprocess.run(
                    [args.python, args.manage_py, "dumpdata", app],
                    stdout=out,
                    env=env,
                    cwd=os.path.dirname(os.path.abspath(args.manage_py)),
                    check=True,
                )
        latest = os.path.join(args.outdir, "latest.tar.gz")
        if os.path.exists(latest):
            before = previous_sha1s(latest)
            now = {name: sha1(os.path.join(work, name)) for name in COMPARED}
            if before == now:
                print("unchanged")
                return
        name = f"{stamp}.tar.gz"
        members = [m for m in COMPARED] + [f"{a}.json" for a in apps if f"{a}.json" not in COMPARED] + [sql]
        subprocess.run(["tar", "-czf", os.path.join(args.outdir, name), "-C", work, *members], check=True)
        tmp_link = latest + ".tmp"
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
        os.symlink(name, tmp_link)
        os.replace(tmp_link, latest)
        print(f"saved {name}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
