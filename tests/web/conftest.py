"""Browser fixtures: a live `cyberfusion serve` on a fresh database, driven by Debian's Chromium.

Playwright only drives the browser; it never downloads one. Without /usr/bin/chromium the
browser tests are skipped on a developer's machine and fail in CI (CI=true), where a skipped
browser suite would hide a missing install step.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    StorageState,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import TEST_CACHE_DIR, fresh_database

CHROMIUM = Path("/usr/bin/chromium")
# We run as root (so no sandbox) on machines without a GPU or the internet: everything Chromium
# would fetch on its own (updates, sync, field trials, QUIC probes) fails and slows it down.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
VIEWPORT_WIDTH = 1280
VIEWPORT_HEIGHT = 800
SERVER_START_SECONDS = 30
# Playwright waits this long for an element or a navigation before failing a step.
STEP_TIMEOUT_MS = 30_000  # generous: a loaded 2-core machine can take seconds for one step


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Tab:
    """One page in its own browser context, with what it logged and requested."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    requested_urls: list[str] = field(default_factory=list)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def _on_page_error(self, error: PlaywrightError) -> None:
        self.console_errors.append(f"uncaught: {error.message}")

    def _on_request(self, request: Request) -> None:
        self.requested_urls.append(request.url)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = (
        f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install chromium) "
        "to run the browser tests"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    _require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_healthy(server: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"cyberfusion serve exited with {server.returncode}:\n{log_path.read_text()}",
                pytrace=False,
            )
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(
        f"cyberfusion serve did not answer /healthz within {SERVER_START_SECONDS} s:\n"
        f"{log_path.read_text()}",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`db upgrade`, `demo` and `serve` in subprocesses, as a user runs them; stopped after."""
    tmp = tmp_path_factory.mktemp("live-server")
    with fresh_database(tmp) as url:
        # Explicit values: the in-process test database's settings must not leak into the server.
        env = {
            **os.environ,
            "CYBERFUSION_DATABASE_URL": url,
            "CYBERFUSION_DATA_DIR": str(tmp / "data"),
            "CYBERFUSION_SECRET_KEY": "browser-test-secret-not-for-production",
            "CYBERFUSION_SECURE_COOKIES": "0",
            # The compiled warninglists the in-process tests keep (tests/conftest.py): without
            # them the server's first upload compiles them, about 30 s, longer than a step.
            "CYBERFUSION_CACHE_DIR": os.environ.get("CYBERFUSION_CACHE_DIR", str(TEST_CACHE_DIR)),
        }
        for args in (("db", "upgrade"), ("demo", "--no-activity")):
            done = subprocess.run(
                [sys.executable, "-m", "cyberfusion", *args],
                env=env,
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if done.returncode != 0:
                pytest.fail(
                    f"cyberfusion {' '.join(args)} exited with {done.returncode}:\n{done.stderr}",
                    pytrace=False,
                )
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        log_path = tmp / "serve.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cyberfusion",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=env,
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                _wait_until_healthy(server, base_url, log_path)
                yield LiveServer(base_url=base_url, log_path=log_path)
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=10)


@pytest.fixture
def open_tab(chromium: Browser, live_server: LiveServer) -> Iterator[Callable[..., Tab]]:
    """Open a page in a new browser context (optionally with a saved sign-in); closed after."""
    contexts = []

    def _open(storage_state: StorageState | None = None) -> Tab:
        context = chromium.new_context(
            base_url=live_server.base_url,
            viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT},
            storage_state=storage_state,
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        contexts.append(context)
        tab = Tab(page=context.new_page())
        tab.page.on("console", tab._on_console)
        tab.page.on("pageerror", tab._on_page_error)
        tab.page.on("request", tab._on_request)
        return tab

    yield _open
    for context in contexts:
        context.close()
