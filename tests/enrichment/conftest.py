"""Fixtures of the enrichment tests: the shipped warninglists, compiled once across test runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cyberfusion.enrichment import warninglist
from tests.conftest import TEST_CACHE_DIR


@pytest.fixture(scope="session")
def shipped_lists() -> Iterator[warninglist.Warninglists]:
    """The shipped lists, compiled into the tests' cache folder (about 30 s, once per list
    package version) and shared with everything else the tests run."""
    path = warninglist.compiled_path(TEST_CACHE_DIR)
    lists = warninglist.load(path)
    with pytest.MonkeyPatch.context() as patch:
        # The service asks `get()` for the process's lists.
        patch.setattr(warninglist, "get", lambda: lists)
        yield lists
