"""The commands' parameters: a fixture format this helper does not write is refused in one line."""

import json

import pytest

from checkniner_backup.django_helper import commands
from checkniner_backup.django_helper.protocol import ENV_FORMAT


@pytest.mark.parametrize("value", ["abc", "3", "0", "4"])
def test_an_unknown_fixture_format_is_refused(monkeypatch, capsys, value):
    monkeypatch.setenv(ENV_FORMAT, value)
    if value == "3":
        assert commands.fixture_format() == 3
        return
    with pytest.raises(SystemExit) as exc:
        commands.fixture_format()
    assert exc.value.code == 2
    assert "unknown fixture format" in json.loads(capsys.readouterr().out)["error"]
