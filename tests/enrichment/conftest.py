"""Fixtures of the enrichment tests: the shipped warninglists, compiled once across test runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cyberfusion.enrichment import warninglist


@pytest.fixture(scope="session")
def shipped_lists(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[warninglist.Warninglists]:
    """The shipped lists, compiled into pytest's cache folder when there is one (compiling takes
    about 20 s, once per list package version), else once per run (`make test` runs pytest with
    the cache provider off)."""
    cache = getattr(request.config, "cache", None)
    directory = (
        Path(cache.mkdir("cyberfusion-warninglists"))
        if cache is not None
        else tmp_path_factory.mktemp("warninglists")
    )
    path = warninglist.compiled_path(directory)
    lists = warninglist.load(path)
    with pytest.MonkeyPatch.context() as patch:
        # The service asks `get()` for the process's lists.
        patch.setattr(warninglist, "get", lambda: lists)
        yield lists
