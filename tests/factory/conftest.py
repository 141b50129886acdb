"""Fixtures shared by the factory tests."""

import shutil

import pytest

from factory.services import risk_tiers_default_create
from tests.skills.conftest import demo, eager_tasks  # noqa: F401 - shared fixtures


@pytest.fixture
def factory_world(demo, settings, tmp_path):  # noqa: F811
    """The demo world, a live copy of the packs the factory may deploy into, and a workspace of its
    own; the pipeline runs inline. Returns the live packs' folder."""
    live = tmp_path / "domains"
    shutil.copytree(settings.ASPORA_DOMAINS_DIR, live, ignore=shutil.ignore_patterns("__pycache__"))
    settings.ASPORA_DOMAINS_DIR = live
    settings.ASPORA_FACTORY_DIR = tmp_path / "factory"
    settings.ASPORA_FACTORY_DISPATCH = "inline"
    risk_tiers_default_create()  # a transactional test's flush removed the migration's rows
    return live
