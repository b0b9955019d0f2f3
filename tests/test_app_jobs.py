"""Background jobs in the server process (the embedded default) and how `serve` chooses them."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from cyberfusion.app import create_app
from cyberfusion.core.config import get_settings
from cyberfusion.enrichment import service as enrichment_service
from tests.processes import alive


def _jobs_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "cyberfusion-jobs"]


def test_in_process_jobs_run_while_the_app_runs(
    engine: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CYBERFUSION_IN_PROCESS_JOBS", "1")
    with TestClient(create_app()) as client:
        assert client.get("/healthz").status_code == 200
        assert [t.is_alive() for t in _jobs_threads()] == [True]
    assert _jobs_threads() == []


def test_the_jobs_stop_the_enrichment_workers_they_started(
    engine: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = replace(get_settings(), enrichment_processes=1)
    monkeypatch.setattr(enrichment_service, "get_settings", lambda: settings)
    monkeypatch.setenv("CYBERFUSION_IN_PROCESS_JOBS", "1")
    enrichment_service.shutdown_workers()
    with TestClient(create_app()):
        # The jobs thread loads the shipped data and starts the worker first.
        deadline = time.monotonic() + 120
        pool = None
        while pool is None and time.monotonic() < deadline:
            pool = enrichment_service._pool_state.get("pool")
            time.sleep(0.05)
        assert pool is not None
        pool.submit(os.getpid).result()
        workers = list(pool._processes)
        assert workers
    assert enrichment_service._pool_state.get("pool") is None
    assert not any(alive(pid) for pid in workers)


def test_no_jobs_thread_unless_asked(engine: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYBERFUSION_IN_PROCESS_JOBS", "0")
    with TestClient(create_app()) as client:
        assert client.get("/healthz").status_code == 200
        assert _jobs_threads() == []


def test_serve_refuses_an_unknown_jobs_mode(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("serve", "--jobs", "sometimes")
    assert result.exit_code == 2
    assert "--jobs must be auto, in-process or worker" in result.output
