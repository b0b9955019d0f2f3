"""Helpers for tests that start processes of their own (the enrichment's workers)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether a process with this number exists (an unreaped child still counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
