"""signing.py: key files (keygen, the private key, the trusted-keys file) and the signature check. Every bad input
is one ConfigError / IntegrityError line that never holds key material."""

import base64
import json
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from checkniner_backup import cli, config, signing
from checkniner_backup.errors import ConfigError, IntegrityError

MANIFEST = b'{\n  "members": {}\n}\n'


@pytest.fixture
def key(tmp_path):
    made = signing.keygen(str(tmp_path / "host.key"), comment="app1")
    return made, signing.load_private(made.private_key)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def one_line(exc):
    text = str(exc.value)
    assert "\n" not in text
    return text


# -- keygen ---------------------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_0600_and_one_public_line(tmp_path):
    old = os.umask(0o000)  # a permissive umask must not loosen the private key
    try:
        made = signing.keygen(str(tmp_path / "k"))
    finally:
        os.umask(old)
    assert mode(tmp_path / "k") == 0o600 and mode(tmp_path / "k.pub") == 0o644
    assert (tmp_path / "k").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    (line,) = (tmp_path / "k.pub").read_text().splitlines()
    assert line == made.line and line.startswith("ed25519 ") and line.endswith(" checkniner-backup@" + os.uname()[1])
    assert signing.load_trusted(str(tmp_path / "k.pub"))[0].fingerprint == made.fingerprint
    assert made.fingerprint.startswith("SHA256:")
    assert sorted(os.listdir(tmp_path)) == ["k", "k.pub"]  # no temp file left behind


@pytest.mark.parametrize("existing", ["k", "k.pub"])
def test_keygen_refuses_to_overwrite_either_file(tmp_path, existing):
    (tmp_path / existing).write_text("precious\n")
    with pytest.raises(ConfigError) as exc:
        signing.keygen(str(tmp_path / "k"))
    assert one_line(exc) == f"{tmp_path / existing} exists: refusing to overwrite a key (choose another PATH, or " \
        "remove it first)"  # fmt: skip
    assert (tmp_path / existing).read_text() == "precious\n"
    assert sorted(os.listdir(tmp_path)) == [existing]


def test_keygen_refuses_a_missing_directory(tmp_path):
    with pytest.raises(ConfigError) as exc:
        signing.keygen(str(tmp_path / "nowhere" / "k"))
    assert "does not exist: create it first" in one_line(exc)


def test_keygen_command_line_refuses_the_second_time_with_exit_2(tmp_path, capsys):
    path = str(tmp_path / "k")
    assert cli.main(["keygen", "--json", "--comment", "app 1", path], env={}) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["line"].endswith(" app 1") and made["public_key"] == path + ".pub"
    before = (tmp_path / "k").read_bytes()
    assert cli.main(["keygen", path], env={}) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith(f"keygen: failed: {path} exists: refusing to overwrite a key (choose another PATH, or "
                           "remove it first)")  # fmt: skip
    assert (tmp_path / "k").read_bytes() == before


# -- the private key ------------------------------------------------------------------------------------------


def test_private_key_too_open_is_refused(key):
    made, _ = key
    os.chmod(made.private_key, 0o640)
    with pytest.raises(ConfigError) as exc:
        signing.load_private(made.private_key)
    assert one_line(exc) == (
        f"CHECKNINER_SIGNING_KEY {made.private_key} is accessible by other users (mode 0640): chmod 600 it"
    )


@pytest.mark.parametrize("content", ["public line", "garbage", "rsa-like", "encrypted", "empty"])
def test_a_file_that_is_not_an_unencrypted_ed25519_key_is_refused_without_echoing_it(key, tmp_path, content):
    made, _ = key
    path = tmp_path / "bad.key"
    data = {
        "public line": open(made.public_key, "rb").read(),
        "garbage": b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n-----END PRIVATE KEY-----\n",
        "rsa-like": ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        "encrypted": signing.load_private(made.private_key).private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass"),
        ),
        "empty": b"",
    }[content]
    path.write_bytes(data)
    path.chmod(0o600)
    with pytest.raises(ConfigError) as exc:
        signing.signing_key(config.load({"DATABASE_URL": "postgres://h/db", "CHECKNINER_SIGNING_KEY": str(path)}))
    text = one_line(exc)
    assert text == (
        f"CHECKNINER_SIGNING_KEY {path} is not an unencrypted Ed25519 private key (PEM): create one with "
        "`checkniner-backup keygen`"
    )
    for chunk in data.split():
        assert len(chunk) < 12 or chunk.decode(errors="replace") not in text


def test_missing_private_key_and_unset_variable(tmp_path):
    cfg = config.load({"DATABASE_URL": "postgres://h/db", "CHECKNINER_SIGNING_KEY": str(tmp_path / "none")})
    with pytest.raises(ConfigError) as exc:
        signing.signing_key(cfg)
    assert one_line(exc) == f"CHECKNINER_SIGNING_KEY {tmp_path / 'none'} cannot be read (No such file or directory)"
    assert signing.signing_key(config.load({"DATABASE_URL": "postgres://h/db"})) is None


# -- the trusted-keys file ------------------------------------------------------------------------------------


def test_trusted_keys_file_with_comments_and_blank_lines(key, tmp_path):
    made, signer = key
    other = signing.keygen(str(tmp_path / "other.key"))
    path = tmp_path / "trusted"
    path.write_text(f"# the restore hosts trust\n\n{made.line}\n   \n  # rotated in 2026:\n{other.line}\n")
    keys = signing.trusted_keys(config.load({"CHECKNINER_TRUSTED_KEYS": str(path)}, require_database=False))
    assert [k.fingerprint for k in keys] == [made.fingerprint, other.fingerprint]
    assert keys[0] == signer.public and keys[0].comment == "app1"
    assert signing.trusted_keys(config.load({}, require_database=False)) == ()


def test_the_hosts_own_key_is_trusted_with_or_without_a_trusted_keys_file(key, tmp_path):
    """A host trusts what it signs itself: keygen and CHECKNINER_SIGNING_KEY alone are a complete setup."""
    made, signer = key
    own = config.load({"CHECKNINER_SIGNING_KEY": made.private_key}, require_database=False)
    assert signing.trusted_keys(own) == (signer.public,)
    other = signing.keygen(str(tmp_path / "other.key"))
    both = config.load(
        {"CHECKNINER_SIGNING_KEY": made.private_key, "CHECKNINER_TRUSTED_KEYS": other.public_key},
        require_database=False,
    )
    assert [k.fingerprint for k in signing.trusted_keys(both)] == [other.fingerprint, made.fingerprint]
    listed = config.load(
        {"CHECKNINER_SIGNING_KEY": made.private_key, "CHECKNINER_TRUSTED_KEYS": made.public_key},
        require_database=False,
    )
    assert signing.trusted_keys(listed) == (signer.public,)  # listed once, not twice


SECRET_B64 = base64.b64encode(b"x" * 32).decode()


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"ed25519 {SECRET_B64}\nssh-ed25519 {SECRET_B64} me\n", "line 2 is not an Ed25519 public key:"),
        (f"ed25519 {SECRET_B64[:-4]}\n", "line 1 is not an Ed25519 public key:"),
        (f"ed25519 {SECRET_B64}!!\n", "line 1 is not an Ed25519 public key:"),
        ("# only a comment\n\n", "lists no public key: add the signing hosts' PATH.pub lines, or unset"),
        ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
         "line 1 is not an Ed25519 public key (a private key? only PATH.pub lines belong there):"),
    ],
    ids=["ssh-type", "short", "not-base64", "no-key", "private-key"],
)  # fmt: skip
def test_malformed_trusted_keys_file_is_one_line_that_never_echoes_it(tmp_path, text, expected):
    path = tmp_path / "trusted"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        signing.load_trusted(str(path))
    message = one_line(exc)
    assert message.startswith(f"CHECKNINER_TRUSTED_KEYS {path} ") and expected in message
    assert SECRET_B64[:20] not in message and "MC4CAQ" not in message


def test_unreadable_or_binary_trusted_keys_file(tmp_path):
    with pytest.raises(ConfigError) as exc:
        signing.load_trusted(str(tmp_path / "none"))
    assert one_line(exc) == f"CHECKNINER_TRUSTED_KEYS {tmp_path / 'none'} cannot be read (No such file or directory)"
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00ed25519")
    with pytest.raises(ConfigError) as exc:
        signing.load_trusted(str(tmp_path / "bin"))
    assert one_line(exc).startswith(f"CHECKNINER_TRUSTED_KEYS {tmp_path / 'bin'} is not text: expected")


# -- the signature --------------------------------------------------------------------------------------------


def test_signed_manifest_passes_with_its_key_trusted(key):
    made, signer = key
    verdict = signing.check(MANIFEST, signing.sign(signer, MANIFEST), (signer.public,), "a.tar.gz")
    assert verdict == signing.Verdict(made.fingerprint, ())


REFUSED = "refused before any database was touched"
HOW = "sign archives (CHECKNINER_SIGNING_KEY) and trust the key (CHECKNINER_TRUSTED_KEYS)"


@pytest.mark.parametrize("trusted", [None, ()], ids=["none", "empty"])
def test_without_any_trusted_key_unsigned_and_signed_archives_are_refused(key, trusted):
    """Fail closed: no trusted key configured is no reason to replay what anyone who can write a store planted."""
    _made, signer = key
    with pytest.raises(IntegrityError) as exc:
        signing.check(MANIFEST, None, trusted, "a.tar.gz")
    assert one_line(exc) == f"a.tar.gz is not signed: {REFUSED}; {HOW}, or accept it once with --allow-unsigned"
    with pytest.raises(IntegrityError) as exc:
        signing.check(MANIFEST, signing.sign(signer, MANIFEST), trusted, "a.tar.gz")
    assert one_line(exc).startswith(f"a.tar.gz is signed by key {signer.public.fingerprint}, which is not trusted")


def test_refusals_name_the_fix_in_the_front_doors_spelling(key, tmp_path):
    _made, signer = key
    other = signing.load_private(signing.keygen(str(tmp_path / "other.key")).private_key)
    with pytest.raises(IntegrityError) as exc:
        signing.check(MANIFEST, None, (signer.public,), "a.tar.gz", opt_out="allow_unsigned=true")
    assert one_line(exc) == f"a.tar.gz is not signed: {REFUSED}; {HOW}, or accept it once with allow_unsigned=true"
    with pytest.raises(IntegrityError) as exc:
        signing.check(MANIFEST, signing.sign(other, MANIFEST), (signer.public,), "a.tar.gz")
    assert one_line(exc) == (
        f"a.tar.gz is signed by key {other.public.fingerprint}, which is not trusted here (not in "
        f"CHECKNINER_TRUSTED_KEYS, not this host's CHECKNINER_SIGNING_KEY): {REFUSED}; add its public key to "
        "CHECKNINER_TRUSTED_KEYS, or accept it once with --allow-unsigned"
    )


@pytest.mark.parametrize("trusted", [None, "signer"], ids=["no-keys", "trusted-keys"])
def test_allow_unsigned_accepts_unsigned_and_untrusted_with_a_warning(key, tmp_path, trusted):
    _made, signer = key
    trusted = (signer.public,) if trusted else None
    other = signing.load_private(signing.keygen(str(tmp_path / "other.key")).private_key)
    unsigned = signing.check(MANIFEST, None, trusted, "a.tar.gz", allow_unsigned=True)
    assert unsigned == signing.Verdict(
        None, (f"a.tar.gz is not signed: accepted because of --allow-unsigned; {HOW} to make it safe",)
    )
    foreign = signing.check(MANIFEST, signing.sign(other, MANIFEST), trusted, "a.tar.gz", allow_unsigned=True)
    assert foreign.signed_by == other.public.fingerprint
    assert foreign.warnings[0].endswith("not this host's CHECKNINER_SIGNING_KEY): accepted because of --allow-unsigned")
    # a trusted signer needs no opt-out and gets no warning, with it or without
    if trusted:
        verdict = signing.check(MANIFEST, signing.sign(signer, MANIFEST), trusted, "a.tar.gz", allow_unsigned=True)
        assert verdict == signing.Verdict(signer.public.fingerprint, ())


def test_a_tampered_manifest_is_refused_even_with_allow_unsigned(key):
    _made, signer = key
    tampered = MANIFEST.replace(b"{}", b'{"x.sql": {}}')
    for trusted in ((signer.public,), None):  # a signature that does not match fails whether or not keys are trusted
        for allow in (False, True):
            with pytest.raises(IntegrityError) as exc:
                signing.check(tampered, signing.sign(signer, MANIFEST), trusted, "a.tar.gz", allow_unsigned=allow)
            assert one_line(exc) == (
                f"a.tar.gz: its manifest does not match its signature by key {signer.public.fingerprint} (tampered?): "
                f"{REFUSED}"
            )


def test_run_without_a_signing_key_says_so(key):
    made, _signer = key
    assert (
        signing.unsigned_warning(config.load({"CHECKNINER_SIGNING_KEY": made.private_key}, require_database=False))
        is None
    )
    text = signing.unsigned_warning(config.load({}, require_database=False))
    assert text.startswith("archives are not signed (CHECKNINER_SIGNING_KEY is not set): restore and verify refuse")


def _forged(signer):
    good = json.loads(signing.sign(signer, MANIFEST))
    return {
        "garbage": b"\x00\xff not json",
        "json list": b"[1, 2]",
        "other algorithm": json.dumps({**good, "algorithm": "rsa"}).encode(),
        "short signature": json.dumps({**good, "signature": good["signature"][:40]}).encode(),
        "signature not text": json.dumps({**good, "signature": 12}).encode(),
        "key not base64": json.dumps({**good, "public_key": "!" * 44}).encode(),
        "no format": json.dumps({k: v for k, v in good.items() if k != "format"}).encode(),
    }


def test_forged_signature_members_are_one_line(key):
    _made, signer = key
    for name, data in _forged(signer).items():
        for trusted in ((signer.public,), None):
            with pytest.raises(IntegrityError) as exc:
                signing.check(MANIFEST, data, trusted, "a.tar.gz", allow_unsigned=True)
            assert one_line(exc) == (
                "a.tar.gz: its signature member is not an Ed25519 checkniner-backup signature (forged?)"
            ), name


def test_publish_public_writes_the_public_line_of_a_key_given_as_text(tmp_path):
    """A key the role wrote from the vault has no PATH.pub: publish_public derives it, so that the play's hosts trust
    it as they trust generated keys; a second call changes nothing."""
    made = signing.keygen(str(tmp_path / "k"), comment="app1")
    os.unlink(made.public_key)  # as the role's copy of a vault text leaves it: the private key alone
    published = signing.publish_public(made.private_key, comment="app1")
    assert published.changed and published.line == made.line and published.fingerprint == made.fingerprint
    assert (tmp_path / "k.pub").read_text() == made.line + "\n"
    assert os.stat(tmp_path / "k.pub").st_mode & 0o777 == 0o644
    assert not signing.publish_public(made.private_key, comment="app1").changed
    (tmp_path / "k.pub").write_text("ed25519 planted\n")  # a stale or planted line is replaced by the key's own
    assert signing.publish_public(made.private_key, comment="app1").changed
    assert (tmp_path / "k.pub").read_text() == made.line + "\n"


def test_publish_public_refuses_a_missing_or_open_key(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        signing.publish_public(str(tmp_path / "missing"))
    made = signing.keygen(str(tmp_path / "k"))
    os.chmod(made.private_key, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        signing.publish_public(made.private_key)
