"""Background jobs in the server process (the embedded default) and how `serve` chooses them."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from cyberfusion.app import create_app


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


def test_no_jobs_thread_unless_asked(engine: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYBERFUSION_IN_PROCESS_JOBS", "0")
    with TestClient(create_app()) as client:
        assert client.get("/healthz").status_code == 200
        assert _jobs_threads() == []


def test_serve_refuses_an_unknown_jobs_mode(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("serve", "--jobs", "sometimes")
    assert result.exit_code == 2
    assert "--jobs must be auto, in-process or worker" in result.output
