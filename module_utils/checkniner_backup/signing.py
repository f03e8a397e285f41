"""Signed archives: the one owner of the key files and of the signature over an archive's manifest.

An archive carries `manifest.sig` (archive.SIGNATURE) right after `manifest.json`: an Ed25519 signature over the exact
bytes of the manifest, which records every member's sha256 and size, so one signature covers the whole archive. The
host that writes archives holds its own private key (CHECKNINER_SIGNING_KEY); hosts that restore hold the public keys
they trust (CHECKNINER_TRUSTED_KEYS, and their own) and refuse anything else before a database is touched (fetch.py).

Why Ed25519 from `cryptography` and not GnuPG detached signatures (gpg is already used for encryption): a public key
is one short line an operator can read, diff and paste into a role variable; verifying needs no keyring, no
GNUPGHOME, no trust database and no import step under the right user (each a way for a check to pass or fail for
reasons other than the key); the signature is 64 bytes with nothing to parse but two fixed-length fields; and the
library is PyCA's, well kept, with wheels everywhere (ansible-core already depends on it). GnuPG stays what it is
good at here: encrypting to a key whose private half is elsewhere.

Formats (this file decides them):
- private key: PKCS#8 PEM, unencrypted (`-----BEGIN PRIVATE KEY-----`), mode 0600, as `checkniner-backup keygen`
  writes it; a key readable by group or others is refused, as ssh does;
- public key: one line `ed25519 <base64 of the 32 key bytes> <comment>`; its fingerprint `SHA256:<base64>`;
- signature member: a small JSON document {format, algorithm, public_key, fingerprint, signature}.
"""

import base64
import binascii
import hashlib
import json
import os
import socket
import tempfile
from dataclasses import dataclass, field
from typing import Optional, Tuple

from .errors import ConfigError, IntegrityError
from .fsutil import atomic_write_bytes, fsync_dir

ALGORITHM = "ed25519"
SIGNATURE_FORMAT = "checkniner-backup-signature"
SIGNING_KEY_VAR = "CHECKNINER_SIGNING_KEY"
TRUSTED_KEYS_VAR = "CHECKNINER_TRUSTED_KEYS"
_KEY_BYTES, _SIG_BYTES = 32, 64
_MAX_KEY_FILE = 64 * 1024  # a private key is ~120 bytes; a trusted-keys file of a thousand hosts ~100 KB
_MAX_TRUSTED_FILE = 1024 * 1024
_KEY_LINE_HINT = "expected `ed25519 <base64> [comment]` a line, as `checkniner-backup keygen` writes PATH.pub"


def _crypto():
    """cryptography's Ed25519 and serialization, imported when a key is used (commands that never sign skip it)."""
    try:
        from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise ConfigError(
            "the cryptography package is not installed: pip install cryptography (archive signatures need it)"
        ) from None
    return ed25519, serialization, InvalidSignature, UnsupportedAlgorithm


def _b64decode(text, size):
    """The bytes of strict base64 text, or None when it is not base64 of exactly `size` bytes."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None
    return raw if len(raw) == size else None


def _b64(raw):
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class PublicKey:
    raw: bytes
    comment: str = field(default="", compare=False)

    @property
    def fingerprint(self):
        return "SHA256:" + _b64(hashlib.sha256(self.raw).digest()).rstrip("=")

    def line(self):
        return f"{ALGORITHM} {_b64(self.raw)} {self.comment}".rstrip()


def parse_public_key(text, where):
    """One public key line. Raises ConfigError naming `where` (a file and line), never the text itself."""
    parts = text.strip().split(None, 2)
    raw = _b64decode(parts[1], _KEY_BYTES) if len(parts) >= 2 and parts[0] == ALGORITHM else None
    if raw is None:
        hint = " (a private key? only PATH.pub lines belong there)" if "PRIVATE KEY" in text else ""
        raise ConfigError(f"{where} is not an Ed25519 public key{hint}: {_KEY_LINE_HINT}")
    return PublicKey(raw, parts[2].strip() if len(parts) == 3 else "")


def _read_small(path, limit, what):
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read ({exc.strerror or exc.__class__.__name__})") from None
    if len(data) > limit:
        raise ConfigError(f"{what} {path} is larger than {limit // 1024} KB: not a key file")
    return data


def load_trusted(path, what=TRUSTED_KEYS_VAR):
    """The public keys of a trusted-keys file: one `ed25519 <base64> [comment]` a line; blank lines and lines starting
    with # are ignored. Raises ConfigError (one line, never key material) for anything else, or for no key at all."""
    data = _read_small(path, _MAX_TRUSTED_FILE, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not text: {_KEY_LINE_HINT}") from None
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            keys.append(parse_public_key(line, f"{what} {path} line {number}"))
    if not keys:
        raise ConfigError(f"{what} {path} lists no public key: add the signing hosts' PATH.pub lines, or unset {what}")
    return tuple(keys)


@dataclass(frozen=True)
class SigningKey:
    private: object  # cryptography's Ed25519PrivateKey
    public: PublicKey


def load_private(path, what=SIGNING_KEY_VAR):
    """The private key of a host that signs its archives. Raises ConfigError: unreadable, too open, or not an
    unencrypted Ed25519 PEM key (the message never holds the file's content)."""
    ed25519, serialization, _invalid, unsupported = _crypto()
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read ({exc.strerror})") from None
    if mode & 0o077:
        raise ConfigError(f"{what} {path} is accessible by other users (mode {mode & 0o777:04o}): chmod 600 it")
    data = _read_small(path, _MAX_KEY_FILE, what)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, unsupported):
        key = None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(
            f"{what} {path} is not an unencrypted Ed25519 private key (PEM): create one with `checkniner-backup keygen`"
        )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SigningKey(key, PublicKey(raw))


# The host's keys, named by the configuration (Config.signing_key_path / trusted_keys_path, set by config.load). Read by
# the commands that need them, not by load(): a broken trusted-keys file must not stop the backups, and a broken
# signing key stops `run` at its preflight (exit 2) rather than every `list` and `status`.


def signing_key(config):
    """The private key that signs every archive this host writes (CHECKNINER_SIGNING_KEY), or None: archives are
    written unsigned. Raises ConfigError for a key that cannot be used (never echoing it)."""
    return load_private(config.signing_key_path) if config.signing_key_path else None


def trusted_keys(config):
    """The public keys restore and verify accept signatures from: those of CHECKNINER_TRUSTED_KEYS (a file) and this
    host's own, derived from CHECKNINER_SIGNING_KEY (a host trusts what it signs itself, so keygen and the signing key
    alone are a complete setup). An empty tuple when neither is set: every archive is refused (check). Raises
    ConfigError for a file that is malformed or empty, or a signing key that cannot be used."""
    keys = load_trusted(config.trusted_keys_path) if config.trusted_keys_path else ()
    own = signing_key(config)
    if own is not None and own.public.raw not in {key.raw for key in keys}:
        keys += (own.public,)
    return keys


def unsigned_warning(config):
    """What every line of `run` says on a host without a signing key, or None: its archives are written unsigned, and
    restore and verify refuse them."""
    if config.signing_key_path:
        return None
    return (f"archives are not signed ({SIGNING_KEY_VAR} is not set): restore and verify refuse them; create a key "
            "with `checkniner-backup keygen PATH` and set it")  # fmt: skip


def _create_new(path, data, mode):
    """Write a file that must not exist yet: temp file in the same directory, fsync, then link it into place (link
    fails when the name exists: nothing is ever overwritten, and no half-written key is ever visible). Raises
    FileExistsError when the name was taken meanwhile."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-key-", dir=directory)  # mode 0600 from the start
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: exclusive create, still never an overwrite
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
    finally:
        os.unlink(tmp)
    fsync_dir(directory)


def _exists(path):
    return ConfigError(f"{path} exists: refusing to overwrite a key (choose another PATH, or remove it first)")


def _write_key(path, data, mode):
    try:
        _create_new(path, data, mode)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path} ({exc.strerror or exc.__class__.__name__})") from None


@dataclass(frozen=True)
class KeyPair:
    """What keygen made: the two files, the public key's fingerprint and its line (for CHECKNINER_TRUSTED_KEYS)."""

    private_key: str
    public_key: str
    fingerprint: str
    line: str
    changed: bool = True  # a file was written (publish_public leaves a PATH.pub that already says it alone)

    def as_dict(self):
        return {"private_key": self.private_key, "public_key": self.public_key, "fingerprint": self.fingerprint,
                "line": self.line, "changed": self.changed}  # fmt: skip


def keygen(path, comment=None) -> KeyPair:
    """A new signing key pair: the private key at `path` (0600), the public key line at `path`.pub (0644). Refuses to
    overwrite either. Returns a KeyPair."""
    ed25519, serialization, _invalid, _unsupported = _crypto()
    public_path = f"{path}.pub"
    for target in (path, public_path):
        if os.path.lexists(target):
            raise _exists(target)
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise ConfigError(f"the directory of {path} does not exist: create it first (mode 0700)")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public = PublicKey(raw, " ".join((comment or f"checkniner-backup@{socket.gethostname()}").split()))
    _write_key(path, pem, 0o600)
    try:
        _write_key(public_path, (public.line() + "\n").encode(), 0o644)
    except BaseException:
        os.unlink(path)  # no private key without its public line
        raise
    return KeyPair(path, public_path, public.fingerprint, public.line())


def publish_public(path, comment=None) -> KeyPair:
    """PATH.pub (0644) from the private key already at `path`: for a key given as text (the role writes it from the
    vault), so that its public line is published as a generated key's is, and every host of the play trusts it.
    Rewritten only when it does not hold that line already. Returns a KeyPair (changed: PATH.pub was written)."""
    key = load_private(path)
    public = PublicKey(key.public.raw, " ".join((comment or f"checkniner-backup@{socket.gethostname()}").split()))
    public_path, data = f"{path}.pub", (public.line() + "\n").encode()
    try:
        with open(public_path, "rb") as handle:
            same = handle.read(len(data) + 1) == data
    except FileNotFoundError:
        same = False
    except OSError as exc:
        raise ConfigError(f"cannot read {public_path} ({exc.strerror})") from None
    if not same:
        try:
            atomic_write_bytes(public_path, data, 0o644)
        except OSError as exc:
            raise ConfigError(f"cannot write {public_path} ({exc.strerror or exc.__class__.__name__})") from None
    return KeyPair(path, public_path, public.fingerprint, public.line(), changed=not same)


def sign(key, manifest_bytes):
    """The signature member of an archive whose manifest.json holds exactly these bytes."""
    _crypto()
    doc = {
        "format": SIGNATURE_FORMAT,
        "algorithm": ALGORITHM,
        "public_key": _b64(key.public.raw),
        "fingerprint": key.public.fingerprint,
        "signature": _b64(key.private.sign(manifest_bytes)),
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class Verdict:
    """What the signature check found: signed_by (a fingerprint, or None: unsigned), and the warnings to report."""

    signed_by: Optional[str] = None
    warnings: Tuple[str, ...] = ()


def _parse_signature(data, name):
    """(PublicKey, signature bytes) of a signature member; IntegrityError for anything else (hostile input)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        doc = None
    ok = isinstance(doc, dict) and doc.get("format") == SIGNATURE_FORMAT and doc.get("algorithm") == ALGORITHM
    raw = _b64decode(doc.get("public_key"), _KEY_BYTES) if ok and isinstance(doc.get("public_key"), str) else None
    sig = _b64decode(doc.get("signature"), _SIG_BYTES) if ok and isinstance(doc.get("signature"), str) else None
    if raw is None or sig is None:
        raise IntegrityError(f"{name}: its signature member is not an Ed25519 checkniner-backup signature (forged?)")
    return PublicKey(raw), sig


_HOW = f"sign archives ({SIGNING_KEY_VAR}) and trust the key ({TRUSTED_KEYS_VAR})"


def check(manifest_bytes, signature, trusted, name, allow_unsigned=False, opt_out="--allow-unsigned"):
    """Check an archive's signature before anything is restored from it: fail closed.

    manifest_bytes: the exact bytes of its manifest.json; signature: the bytes of its signature member, or None;
    trusted: the PublicKeys accepted (trusted_keys; empty or None: none). An archive that is unsigned or signed by a
    key not trusted raises IntegrityError, also when no key is configured: anyone who can write to a store can plant
    an unsigned archive, so only a signature the host trusts makes an archive safe to replay. allow_unsigned (the
    front door's opt-out, spelt `opt_out` in the message) accepts those with a warning, for one invocation. A
    signature that does not match its manifest always fails (the archive was changed after it was signed). Returns
    a Verdict.
    """
    refused = "refused before any database was touched"
    if signature is None:
        if not allow_unsigned:
            raise IntegrityError(f"{name} is not signed: {refused}; {_HOW}, or accept it once with {opt_out}")
        return Verdict(None, (f"{name} is not signed: accepted because of {opt_out}; {_HOW} to make it safe",))
    key, sig = _parse_signature(signature, name)
    ed25519, _serialization, invalid, _unsupported = _crypto()
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(key.raw).verify(sig, manifest_bytes)
    except invalid:
        raise IntegrityError(
            f"{name}: its manifest does not match its signature by key {key.fingerprint} (tampered?): {refused}"
        ) from None
    if key.raw in {k.raw for k in trusted or ()}:
        return Verdict(key.fingerprint)
    untrusted = (
        f"{name} is signed by key {key.fingerprint}, which is not trusted here (not in {TRUSTED_KEYS_VAR}, not this "
        f"host's {SIGNING_KEY_VAR})"
    )
    if not allow_unsigned:
        raise IntegrityError(f"{untrusted}: {refused}; add its public key to {TRUSTED_KEYS_VAR}, or accept it once "
                             f"with {opt_out}")  # fmt: skip
    return Verdict(key.fingerprint, (f"{untrusted}: accepted because of {opt_out}",))
