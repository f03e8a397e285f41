"""Public-key encryption of archives with GnuPG: the host holds only the recipient's public key.

Encrypted archives are `<name>.tar.gz.gpg`. Change detection and the outbox never decrypt: the fingerprint lives in
state.json and in the S3 object's metadata. Restores decrypt where the private key is (the controller or a restore
host). Key rotation: point BACKUPS_GPG_RECIPIENT at the new key; older archives stay decryptable with the old key.
"""

import os
import shutil
import subprocess

from .errors import BackupError, ConfigError, IntegrityError

SUFFIX = ".gpg"


def _gpg(env):
    gpg = shutil.which("gpg", path=(env or os.environ).get("PATH"))
    if not gpg:
        raise ConfigError("gpg is not installed: apt-get install gnupg (BACKUPS_GPG_RECIPIENT is set)")
    return gpg


def _first_error(stderr, code):
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {code}"


def check_recipient(recipient, env):
    """Fail early, with one line, when the recipient's public key is not in this user's keyring."""
    proc = subprocess.run(
        [_gpg(env), "--batch", "--with-colons", "--list-keys", "--", recipient],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0 or "pub:" not in proc.stdout:
        home = (env or {}).get("GNUPGHOME") or "~/.gnupg"
        raise ConfigError(
            f"BACKUPS_GPG_RECIPIENT {recipient!r} has no public key in the keyring ({home}): gpg --import it first"
        )


def encrypt(src, dst, recipient, env):
    """Encrypt src to recipient into dst (temp file + rename by the caller's directory discipline)."""
    tmp = f"{dst}.tmp-{os.getpid()}"
    proc = subprocess.run(
        [_gpg(env), "--batch", "--yes", "--quiet", "--no-tty", "--trust-model", "always",
         "--compress-algo", "none", "--recipient", recipient, "--output", tmp, "--encrypt", src],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise BackupError(f"gpg could not encrypt to {recipient!r}: {_first_error(proc.stderr, proc.returncode)}")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o640)
    os.replace(tmp, dst)
    return os.path.getsize(dst)


def decrypt(src, dst, env):
    """Decrypt src into dst; one clear line when the secret key is missing or the file is not ours."""
    proc = subprocess.run(
        [_gpg(env), "--batch", "--yes", "--quiet", "--no-tty", "--output", dst, "--decrypt", src],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        if os.path.exists(dst):
            os.unlink(dst)
        reason = _first_error(proc.stderr, proc.returncode)
        raise IntegrityError(
            f"cannot decrypt {os.path.basename(src)}: {reason} (import the private key of the archive's recipient)"
        )
    return dst
