"""Public-key encryption of archives with GnuPG: the host holds only the recipient's public key.

Encrypted archives are `<name>.tar.gz.gpg`. Change detection and the outbox never decrypt: the fingerprint lives in
state.json and in the S3 object's metadata. Restores decrypt where the private key is (the controller or a restore
host). Key rotation: point BACKUPS_GPG_RECIPIENT at the new key; older archives stay decryptable with the old key.
"""

import datetime as dt
import os
import shutil
import subprocess

from .errors import BackupError, ConfigError, IntegrityError

SUFFIX = ".gpg"


def _gpg(env):
    """gpg on the PATH of `env`, the environment it runs with (child_env.gpg's)."""
    gpg = shutil.which("gpg", path=env.get("PATH"))
    if not gpg:
        raise ConfigError("gpg is not installed: apt-get install gnupg (BACKUPS_GPG_RECIPIENT is set)")
    return gpg


def _first_error(stderr, code):
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {code}"


# never ask the network (WKD, keyservers) for a key: a recipient the keyring cannot use must fail with gpg's reason,
# not with "No name" from a lookup nobody asked for
_LOCAL_ONLY = ["--auto-key-locate", "clear,local", "--no-auto-key-retrieve"]
_VALIDITY = {"r": "is revoked", "e": "has expired", "d": "is disabled", "i": "is invalid", "n": "is not valid"}


def _run(env, args, stdin=b""):
    return subprocess.run(
        [_gpg(env), "--batch", "--no-tty", *_LOCAL_ONLY, *args], input=stdin, capture_output=True, env=env, check=False
    )


def _date(field):
    return dt.datetime.fromtimestamp(int(field), dt.timezone.utc).strftime("%Y-%m-%d") if field.isdigit() else None


def _state(validity, expires):
    """ "has expired (on 2026-01-01)", "is revoked", ...: a key's or subkey's validity field in words."""
    until = f" (on {_date(expires)})" if validity == "e" and _date(expires) else ""
    return f"{_VALIDITY[validity]}{until}"


def _why_unusable(listing):
    """Why the keys of a `--with-colons --list-keys` listing cannot encrypt, in words: ["key ABCD has expired (on
    2026-01-01)", ...]."""
    reasons, key = [], None
    for fields in (line.split(":") for line in listing.splitlines()):
        if fields[0] not in ("pub", "sub") or len(fields) < 12:
            continue
        validity, keyid, expires, caps = fields[1], fields[4], fields[6], fields[11]
        if fields[0] == "pub":
            key = keyid
            if "E" in caps:  # the whole key can encrypt: some other reason (gpg's line says it)
                continue
            if validity in _VALIDITY:
                reasons.append(f"key {key} {_state(validity, expires)}")
        elif "e" in caps and validity in _VALIDITY and not any(r.startswith(f"key {key} ") for r in reasons):
            reasons.append(f"the encryption subkey {keyid} of key {key} {_state(validity, expires)}")
    return reasons


def check_recipient(recipient, env):
    """Fail early, with one line and gpg's own reason, when archives cannot be encrypted to the recipient: no public
    key in this user's keyring, or one that is expired, revoked or without an encryption subkey. A trial encryption
    of nothing decides (exactly what encrypt() will do), before anything is dumped."""
    home = (env or {}).get("GNUPGHOME") or "~/.gnupg"
    listing = _run(env, ["--with-colons", "--list-keys", "--", recipient])
    keys = listing.stdout.decode("utf-8", "replace")
    if listing.returncode != 0 or "pub:" not in keys:
        raise ConfigError(
            f"BACKUPS_GPG_RECIPIENT {recipient!r} has no public key in the keyring ({home}): gpg --import it first"
        )
    trial = _run(env, ["--trust-model", "always", "--recipient", recipient, "--output", os.devnull, "--encrypt"])
    if trial.returncode == 0:
        return
    # gpg names a user id it cannot use "No public key"; asked by fingerprint, it says what is wrong with the key
    fprs = [line.split(":")[9] for line in keys.splitlines() if line.startswith("fpr:")]
    if fprs:
        by_key = _run(env, ["--trust-model", "always", "--recipient", fprs[0], "--output", os.devnull, "--encrypt"])
        trial = by_key if by_key.returncode != 0 else trial
    said = _first_error(trial.stderr.decode("utf-8", "replace"), trial.returncode).removeprefix("gpg: ")
    said = said.removeprefix("[stdin]: ")
    why = "; ".join(_why_unusable(keys)) or "gpg refuses it"
    raise ConfigError(
        f"BACKUPS_GPG_RECIPIENT {recipient!r} cannot be encrypted to: {why} (gpg: {said}); "
        "import a valid public key and point BACKUPS_GPG_RECIPIENT at it"
    )


def encrypt(src, dst, recipient, env):
    """Encrypt src to recipient into dst: a temp file in dst's directory named like every other temp file there
    (.tmp-*), so that a run killed mid-encryption leaves nothing the next run's cleanup misses; fsync, rename."""
    tmp = os.path.join(os.path.dirname(dst), f".tmp-gpg-{os.getpid()}-{os.path.basename(dst)}")
    proc = subprocess.run(
        [_gpg(env), "--batch", "--yes", "--quiet", "--no-tty", *_LOCAL_ONLY, "--trust-model", "always",
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
    try:
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
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
