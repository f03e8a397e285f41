"""Each module's DOCUMENTATION (with the checkniner_backup doc fragment) describes exactly its argument_spec: what
`ansible-test validate-modules` checks in the collections (undocumented-parameter, nonexistent-parameter-documented,
doc-type/default/choices/elements/required mismatches, no-log-needed), and ansible-doc renders it."""

import os
import re
import subprocess
import sys

import pytest
from support.ansible_module import MODULES, ROOT, argument_spec_of, documented_options

# validate-modules' is_potential_secret_option: a name that looks like a secret must set no_log
NO_LOG_REGEX = re.compile(r"(?:pass(?!ive)|secret|token|key)", re.I)
NOT_SECRET_SUFFIXES = ("_count", "_type", "_alg", "_algorithm", "_timeout", "_name", "_comment", "_bits", "_id")


# what each page must show besides the shared options
PAGE_WORDS = {"checkniner_prune": ("keep_within", "keep_monthly", "CHECKNINER_KEEP_WEEKLY")}


def as_documented(spec):
    """One option of an argument_spec in the terms DOCUMENTATION uses (type str when not given, as Ansible does)."""
    return {
        "type": spec.get("type", "str"),
        "default": spec.get("default"),
        "elements": spec.get("elements"),
        "choices": spec.get("choices"),
        "required": spec.get("required", False),
    }


def test_every_module_is_covered():
    assert MODULES == [
        "checkniner_archive_info",
        "checkniner_preflight",
        "checkniner_prune",
        "checkniner_restore",
        "checkniner_snapshot",
        "checkniner_upload",
    ]


@pytest.mark.parametrize("name", MODULES)
def test_documentation_options_equal_the_argument_spec(name, monkeypatch):
    spec = argument_spec_of(name, monkeypatch)
    docs = documented_options(name)
    assert sorted(docs) == sorted(spec), "documented options differ from the argument_spec"
    for option, doc in docs.items():
        assert doc.get("type"), f"{option}: no type documented"
        assert as_documented(doc) == as_documented(spec[option]), option


@pytest.mark.parametrize("name", MODULES)
def test_secrets_are_no_log_and_documented_as_masked(name, monkeypatch):
    spec = argument_spec_of(name, monkeypatch)
    docs = documented_options(name)
    for option, data in spec.items():
        if NO_LOG_REGEX.search(option) and not option.endswith(NOT_SECRET_SUFFIXES):
            assert "no_log" in data, f"{option} could be a secret: set no_log (validate-modules no-log-needed)"
        if data.get("no_log"):
            description = " ".join(docs[option]["description"])
            assert "masked" in description, f"{option} is no_log: its documentation says the value is masked"


@pytest.mark.parametrize("name", MODULES)
def test_documentation_renders(name):
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-doc"), "-M", "library", "-t", "module", name],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "[WARNING]" not in out.stderr, out.stderr
    for word in ("database_url", "backup_dir", "check_mode", "EXAMPLES", "RETURN VALUES", *PAGE_WORDS.get(name, ())):
        assert word in out.stdout, word
