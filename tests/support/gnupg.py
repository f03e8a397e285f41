"""Throwaway GnuPG keyrings for the encryption tests, and the agents they start stopped again.

gpg starts a gpg-agent per keyring directory, which outlives the test and its directory (a CI run left dozens behind);
stop_agents ends those of every keyring under a test's tmp_path and checks they are gone."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def gpg(home, *args, input=None):
    return subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", *args],
        capture_output=True,
        input=input,
        check=True,
    )


def make_key(tmp_path, name, expires="never"):
    """A throwaway key pair: (keyring with only the public key, keyring with the private key, fingerprint)."""
    private, public = tmp_path / f"{name}-private", tmp_path / f"{name}-public"
    for home in (private, public):
        home.mkdir(mode=0o700)
    uid = f"{name} <{name}@backup.test>"
    gpg(private, "--quick-gen-key", uid, "future-default", "default", expires)
    fpr = [
        line.split(":")[9]
        for line in gpg(private, "--with-colons", "--list-keys", uid).stdout.decode().splitlines()
        if line.startswith("fpr:")
    ][0]
    gpg(public, "--import", input=gpg(private, "--export", fpr).stdout)
    return public, private, fpr


def _keyrings(root: Path):
    """The keyring directories directly under root (what make_key and the tests create)."""
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if p.is_dir() and ((p / "pubring.kbx").exists() or (p / "trustdb.gpg").exists())]


def agents_of(homes):
    """pids of the gpg-agents serving any of these keyring directories (their command line names the directory)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"gpg-agent") and any(str(h).encode() in argv for h in homes):
            found.append(int(proc.name))
    return found


def stop_agents(root: Path, wait: float = 5.0):
    """Stop the agents of every keyring under root; raise when one is still running after `wait` seconds."""
    homes = _keyrings(root)
    for home in homes:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False)
    deadline = time.monotonic() + wait
    while agents_of(homes) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = agents_of(homes)
    if left:
        raise AssertionError(f"gpg-agent {left} still running for {[str(h) for h in homes]}")
