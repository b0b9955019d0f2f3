"""The cycle collector pause: off inside, back as it was after."""

from __future__ import annotations

import gc

from cyberfusion.core import collector


def test_garbage_collection_resumes_as_it_was() -> None:
    assert gc.isenabled() is True
    with collector.paused():
        assert gc.isenabled() is False
    assert gc.isenabled() is True
    gc.disable()
    try:
        with collector.paused():
            pass
        assert gc.isenabled() is False
    finally:
        gc.enable()
