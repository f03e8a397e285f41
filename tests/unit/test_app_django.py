"""The harness's application interpreters (tests/support/app_django.py): the cached Django 3.2 venv is keyed by its
requirements, and a build that did not finish is never used."""

import pytest
from support import app_django


@pytest.fixture
def requirements(tmp_path, monkeypatch):
    path = tmp_path / "requirements.txt"
    path.write_text("Django==3.2.25\n")
    monkeypatch.setitem(app_django.REQUIREMENTS, "3.2", path)
    monkeypatch.setattr(app_django, "CACHE", tmp_path / "cache")
    return path


def test_a_change_to_the_requirements_names_another_venv(requirements):
    first = app_django.venv_dir("3.2")
    assert first == app_django.venv_dir("3.2")
    requirements.write_text("Django==3.2.24\n")
    assert app_django.venv_dir("3.2") != first
    assert first.name.startswith("app-django32-") and first.parent == app_django.CACHE


def test_a_build_without_its_completion_mark_is_built_again(requirements, monkeypatch):
    builds = []
    monkeypatch.setattr(app_django, "_build", lambda version, target: builds.append(target))
    target = app_django.venv_dir("3.2")
    (target / "bin").mkdir(parents=True)  # what an interrupted build leaves
    assert app_django.ensure("3.2") == str(target / "bin" / "python")
    assert builds == [target]
    (target / ".complete").write_text("3.2\n")
    app_django.ensure("3.2")
    assert builds == [target]  # complete: used as it is


def test_an_unknown_django_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"unknown application Django '4\.2': choose one of 5\.2, 3\.2"):
        app_django.select("4.2")
    assert app_django.selected() == "5.2"
