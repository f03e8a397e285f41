"""A fixture file's framing: a JSON list loaddata reads, one object a line in format 3, dumpdata's line before."""

import json

import pytest

from checkniner_backup.django_helper.framing import FixtureFile


class _Raw:
    def __init__(self):
        self.data = b""

    def write(self, data):
        self.data += data


@pytest.mark.parametrize(
    ("lines", "expected"),
    [(True, b'[{"a": 1}\n, {"b": "\xc3\xa9"}\n]\n'), (False, b'[{"a": 1}, {"b": "\xc3\xa9"}]')],
)
def test_a_fixture_file_is_a_json_list_one_object_a_line_in_format_3(lines, expected):
    raw = _Raw()
    out = FixtureFile(raw, lines=lines)
    out.add('{"a": 1}')
    out.add('{"b": "é"}')
    out.close()
    assert raw.data == expected
    assert json.loads(raw.data) == [{"a": 1}, {"b": "é"}]
    assert out.count == 2
