"""Fetching: address policy, files, size limits, timeouts, conditional requests, paths."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cyberfusion.core.errors import ValidationFailed
from cyberfusion.feed import fetch
from cyberfusion.feed.fetch import FetchFailed, FetchPolicy
from tests.feed.conftest import FixtureServer

TRUSTED = FetchPolicy(timeout=5, max_bytes=10_000, trusted=True)
UNTRUSTED = FetchPolicy(timeout=5, max_bytes=10_000, trusted=False)


def test_untrusted_fetch_refuses_loopback_even_when_set_up_elsewhere(
    fixture_server: FixtureServer,
) -> None:
    fixture_server.write("list.txt", "x\n")
    with pytest.raises(FetchFailed, match=r"127\.0\.0\.1 is not a public address"):
        fetch.fetch(fixture_server.url("list.txt"), policy=UNTRUSTED)
    assert fetch.fetch(fixture_server.url("list.txt"), policy=TRUSTED).content == b"x\n"


def test_untrusted_fetch_refuses_names_that_resolve_to_private_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        assert host == "intranet.example.org"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(
        FetchFailed,
        match=r"intranet\.example\.org resolves to 10\.20\.30\.40, which is not public",
    ):
        fetch.fetch("https://intranet.example.org/list.txt", policy=UNTRUSTED)


def test_untrusted_policy_reads_no_local_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("s")
    with pytest.raises(FetchFailed, match="only trusted feeds read local files"):
        fetch.fetch(str(path), policy=UNTRUSTED)
    assert fetch.fetch(f"file://{path}", policy=TRUSTED).content == b"s"


def test_file_limits_and_errors(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 10_001)
    with pytest.raises(FetchFailed, match="10,001 bytes, over the limit of 10,000"):
        fetch.fetch(str(big), policy=TRUSTED)
    with pytest.raises(FetchFailed, match="No such file or directory"):
        fetch.fetch(str(tmp_path / "absent.txt"), policy=TRUSTED)
    with pytest.raises(FetchFailed, match="a file URL names a file on this machine only"):
        fetch.fetch("file://fileserver/share/list.txt", policy=TRUSTED)


class _Endless(BaseHTTPRequestHandler):
    """Streams without Content-Length, more than any limit."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        for _ in range(100):
            self.wfile.write(b"y" * 1000)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endless() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stream"
    finally:
        server.shutdown()
        server.server_close()


def test_streamed_body_stops_at_the_limit(endless: str) -> None:
    with pytest.raises(FetchFailed, match="more than the limit of 10,000 bytes"):
        fetch.fetch(endless, policy=TRUSTED)


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(FetchFailed, match="ReadTimeout"):
            fetch.fetch(url, policy=FetchPolicy(timeout=0.2, max_bytes=100, trusted=True))


def test_conditional_fetch(fixture_server: FixtureServer) -> None:
    fixture_server.write("l.txt", "v\n")
    first = fetch.fetch(fixture_server.url("l.txt"), policy=TRUSTED)
    assert (first.content, first.not_modified, first.etag) == (b"v\n", False, None)
    assert first.last_modified is not None
    second = fetch.fetch(
        fixture_server.url("l.txt"), policy=TRUSTED, last_modified=first.last_modified
    )
    assert (second.content, second.not_modified) == (b"", True)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("https://f.example.org/feed", "https://f.example.org/feed/manifest.json"),
        ("https://f.example.org/feed/", "https://f.example.org/feed/manifest.json"),
        ("/srv/feed", "/srv/feed/manifest.json"),
        ("file:///srv/my%20feed", "/srv/my feed/manifest.json"),
    ],
)
def test_child_of_a_base(source: str, expected: str) -> None:
    assert fetch.child(source, "manifest.json") == expected


def test_check_source() -> None:
    fetch.check_source("https://feeds.example.org/x", trusted=False)
    fetch.check_source("http://93.184.216.34/x", trusted=False)
    fetch.check_source("file:///srv/x", trusted=True)
    with pytest.raises(ValidationFailed, match="unsupported scheme 'ftp'"):
        fetch.check_source("ftp://feeds.example.org/x", trusted=True)
    with pytest.raises(ValidationFailed, match="has no host name"):
        fetch.check_source("https:///x", trusted=False)
