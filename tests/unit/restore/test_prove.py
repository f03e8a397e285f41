"""The proof's comparison of the business fixtures, and what the manifest says to expect."""

from checkniner_backup.manifest import Manifest
from checkniner_backup.restore import prove


def test_compare_apps_and_expected_digests():
    manifest = Manifest({"business_apps": ["auth", "checkouts"], "business_fixtures": {"auth": "a1"}})
    expected = manifest.expected_fixtures()
    assert expected == {"auth": "a1", "checkouts": None}  # no rows is part of the state
    report = prove.compare_apps(expected, {"auth": "a1", "checkouts": "c9"})
    assert report["auth"]["match"] and not report["checkouts"]["match"]
    assert manifest.expected_fixtures({"checkouts"}) == {"checkouts": None}
