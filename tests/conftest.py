"""Shared fixtures.  Every test runs with its own TRAILERTAGGER_HOME so no test touches the
user's real config, cache, library or log folders."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tests.fixtures_media import *  # noqa: E402,F401,F403  (real clips made once per session)


@pytest.fixture(autouse=True)
def tt_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("tt home ü")  # a space and non-ASCII on purpose
    monkeypatch.setenv("TRAILERTAGGER_HOME", str(home))
    monkeypatch.delenv("TRAILERTAGGER_MODELS", raising=False)
    return home
