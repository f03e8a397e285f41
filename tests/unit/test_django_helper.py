"""The fixtures' time format: what the helper writes must load back to a value it writes the same way."""

import datetime
import importlib.util
import json
from pathlib import Path

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.dateparse import parse_datetime, parse_time

HELPER = Path(__file__).resolve().parents[2] / "module_utils" / "checkniner_backup" / "django_helper.py"
UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def encoder():
    spec = importlib.util.spec_from_file_location("cnb_django_helper", HELPER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._encoder_class()


@pytest.mark.parametrize("micro", [0, 1, 500, 999, 1000, 1500, 123000, 123456, 999999])
def test_datetimes_reproduce_themselves_after_loading(encoder, micro):
    value = datetime.datetime(2026, 11, 24, 3, 32, 48, micro, tzinfo=UTC)
    written = json.dumps(value, cls=encoder)
    loaded = parse_datetime(json.loads(written))
    assert loaded == value.replace(microsecond=micro - micro % 1000)  # milliseconds, as dumpdata keeps them
    assert json.dumps(loaded, cls=encoder) == written


@pytest.mark.parametrize("micro", [0, 7, 999, 42000, 654321])
def test_times_reproduce_themselves_after_loading(encoder, micro):
    value = datetime.time(12, 0, 1, micro)
    written = json.dumps(value, cls=encoder)
    assert json.dumps(parse_time(json.loads(written)), cls=encoder) == written


def test_dumpdata_bytes_wherever_dumpdata_reproduces_itself(encoder):
    for micro in (0, 1000, 123000, 123456):
        value = datetime.datetime(2026, 1, 2, 3, 4, 5, micro, tzinfo=UTC)
        assert json.dumps(value, cls=encoder) == json.dumps(value, cls=DjangoJSONEncoder)
    # where it does not, the value is the one dumpdata's text loads as, written once for all
    odd = datetime.datetime(2026, 1, 2, 3, 4, 5, 500, tzinfo=UTC)
    assert json.dumps(odd, cls=DjangoJSONEncoder) == '"2026-01-02T03:04:05.000Z"'
    assert json.dumps(odd, cls=encoder) == '"2026-01-02T03:04:05Z"'
