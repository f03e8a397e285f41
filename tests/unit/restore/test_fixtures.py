"""Fixtures mode's load order."""

from checkniner_backup.restore import fixtures


def test_fixture_order_puts_referenced_apps_first():
    assert fixtures.fixture_order(["admin", "auth", "checkouts", "contenttypes", "sessions"]) == [
        "contenttypes",
        "auth",
        "admin",
        "checkouts",
        "sessions",
    ]
