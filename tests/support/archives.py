"""Archives in the tests: take one through the command line, and rewrite one (a damaged or crafted archive)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from checkniner_backup import archive, signing
from support.environment import signing_key_path


def backup(run_cli, **env):
    proc = run_cli("run", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.JSONDecoder().raw_decode(proc.stdout)[0]
    assert doc["outcome"] == "saved", doc
    return doc["name"]


def first_error_line(proc):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines, f"no message on stderr (exit {proc.returncode}); stdout: {proc.stdout}"
    return lines[0]


def repack(src, dest, edit, resign=True):
    """Rewrite an archive: edit(members: {name: bytes}, manifest) changes it in place; the manifest comes first.

    A signed archive is signed again over the edited manifest with the session's key (resign), so the crafted archive
    reaches the deeper check it was made for; resign False keeps the original signature (a tampered manifest)."""
    members = {}
    with tarfile.open(src, "r:gz") as tar:
        for member in tar:
            members[member.name] = tar.extractfile(member).read()
    manifest = json.loads(members.pop(archive.MANIFEST))
    edit(members, manifest)
    manifest_bytes = json.dumps(manifest).encode()
    if resign and archive.SIGNATURE in members:
        members[archive.SIGNATURE] = signing.sign(signing.load_private(signing_key_path()), manifest_bytes)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [(archive.MANIFEST, manifest_bytes)] + list(members.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dest.write_bytes(buf.getvalue())
    return str(dest)


def reseal(members, manifest, name):
    """Make the manifest agree with an edited member (a valid archive carrying different content)."""
    manifest["members"][name]["sha256"] = hashlib.sha256(members[name]).hexdigest()
    manifest["members"][name]["size"] = len(members[name])
