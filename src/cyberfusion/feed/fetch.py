"""Fetching feed content: HTTP(S) with httpx, `file://` URLs and local paths, with a timeout and
a size limit on every read.

Feeds set up through the API (not `trusted`) may only reach public addresses over HTTP(S):
a feed is a way to make the server fetch a URL and store what comes back where its owner can
read it, so loopback, private, link-local and other non-global addresses are refused, on
every redirect too. Feeds the local operator sets up (`cyberfusion feed add`) are trusted:
they may read local files and directories and reach any address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import orjson

from cyberfusion import __version__
from cyberfusion.core.errors import ValidationFailed

USER_AGENT = f"cyberfusion/{__version__} (feed)"
_READ_BLOCK = 1 << 16
_TAXII_MEDIA_TYPE = "application/taxii+json"


class FetchFailed(Exception):
    """The source could not be read: network, HTTP status, size, or a refused address."""


@dataclass(frozen=True)
class FetchPolicy:
    """How one feed may fetch: time and size limits, credentials, and whether it is trusted."""

    timeout: float
    max_bytes: int
    trusted: bool
    headers: Mapping[str, str] = field(default_factory=dict)
    basic_auth: tuple[str, str] | None = None


@dataclass(frozen=True)
class Fetched:
    content: bytes
    etag: str | None = None
    last_modified: str | None = None
    # The server answered 304: the content is unchanged since the validators were taken.
    not_modified: bool = False


def is_http(source: str) -> bool:
    return urlsplit(source).scheme.lower() in ("http", "https")


def local_path(source: str) -> Path:
    """The path a `file://` URL or a plain path names."""
    parts = urlsplit(source)
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            raise FetchFailed(f"{source}: a file URL names a file on this machine only")
        return Path(unquote(parts.path))
    return Path(source)


def check_source(source: str, *, trusted: bool, field_name: str = "source") -> None:
    """Refuse, at set-up time, a source the feed may never read (precise reason)."""
    parts = urlsplit(source)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValidationFailed(f"{source!r} has no host name", field=field_name)
        if not trusted:
            reason = _literal_host_problem(parts.hostname)
            if reason is not None:
                raise ValidationFailed(
                    f"{parts.hostname}: {reason}; only the local operator "
                    "(`cyberfusion feed add`) may set up feeds from such addresses",
                    field=field_name,
                )
        return
    if not trusted:
        raise ValidationFailed(
            f"{source!r}: feeds set up through the API fetch http:// or https:// URLs only; "
            "local files and directories need the local operator (`cyberfusion feed add`)",
            field=field_name,
        )
    if scheme not in ("", "file"):
        raise ValidationFailed(
            f"{source!r}: unsupported scheme {scheme!r} (http, https, file or a path)",
            field=field_name,
        )
    if not local_path(source).is_absolute():
        raise ValidationFailed(
            f"{source!r}: a local source must be an absolute path", field=field_name
        )


def _literal_host_problem(host: str) -> str | None:
    """Why a host name given as such is not a public address, or None."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return "the local machine"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return None if address.is_global else f"{address} is not a public address"


def _check_public(url: httpx.URL) -> None:
    """Resolve the host and refuse it unless every address it has is public."""
    host = url.host
    reason = _literal_host_problem(host)
    if reason is not None:
        raise FetchFailed(f"{url}: {reason}")
    try:
        infos = socket.getaddrinfo(host, url.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise FetchFailed(f"{url}: cannot resolve {host}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global:
            raise FetchFailed(f"{url}: {host} resolves to {address}, which is not public")


def http_client(policy: FetchPolicy) -> httpx.Client:
    """An httpx client that applies the policy to every request, redirects included."""
    hooks: dict[str, list[Any]] = {}
    if not policy.trusted:

        def guard(request: httpx.Request) -> None:
            if request.url.scheme not in ("http", "https"):
                raise FetchFailed(f"{request.url}: only http and https are allowed")
            _check_public(request.url)

        hooks["request"] = [guard]
    return httpx.Client(
        timeout=policy.timeout,
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": USER_AGENT, **policy.headers},
        auth=policy.basic_auth,
        event_hooks=hooks,
        trust_env=False,
    )


def _read_capped(response: httpx.Response, *, limit: int, url: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise FetchFailed(f"{url}: {int(declared):,} bytes announced, over the limit of {limit:,}")
    body = bytearray()
    for block in response.iter_bytes(_READ_BLOCK):
        body += block
        if len(body) > limit:
            raise FetchFailed(f"{url}: more than the limit of {limit:,} bytes")
    return bytes(body)


def fetch(
    source: str,
    *,
    policy: FetchPolicy,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """The content of a URL or local file. With `etag`/`last_modified` from an earlier fetch,
    an HTTP server may answer that nothing changed (`not_modified`)."""
    if not is_http(source):
        return Fetched(_read_file(source, policy=policy))
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with http_client(policy) as client, client.stream("GET", source, headers=headers) as resp:
            if resp.status_code == 304:
                return Fetched(b"", etag=etag, last_modified=last_modified, not_modified=True)
            if resp.status_code != 200:
                raise FetchFailed(f"{source}: HTTP {resp.status_code} {resp.reason_phrase}")
            content = _read_capped(resp, limit=policy.max_bytes, url=source)
            return Fetched(
                content,
                etag=resp.headers.get("etag"),
                last_modified=resp.headers.get("last-modified"),
            )
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{source}: {type(exc).__name__}: {exc}") from exc


def _read_file(source: str, *, policy: FetchPolicy) -> bytes:
    if not policy.trusted:
        raise FetchFailed(f"{source}: only trusted feeds read local files")
    path = local_path(source)
    try:
        size = path.stat().st_size
        if size > policy.max_bytes:
            raise FetchFailed(f"{path}: {size:,} bytes, over the limit of {policy.max_bytes:,}")
        with path.open("rb") as handle:
            content = handle.read(policy.max_bytes + 1)
    except OSError as exc:
        raise FetchFailed(f"{path}: {exc.strerror or exc}") from exc
    if len(content) > policy.max_bytes:
        raise FetchFailed(f"{path}: more than the limit of {policy.max_bytes:,} bytes")
    return content


def child(source: str, name: str) -> str:
    """`name` inside a feed's base: a URL (a trailing slash is implied) or a directory."""
    if is_http(source):
        return urljoin(source if source.endswith("/") else source + "/", name)
    if urlsplit(source).scheme.lower() == "file":
        return str(local_path(source) / name)
    return str(Path(source) / name)


def fetch_json(source: str, *, policy: FetchPolicy) -> Any:
    content = fetch(source, policy=policy).content
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise FetchFailed(f"{source}: not valid JSON ({exc})") from exc


class TaxiiConnection:
    """The connection taxii2-client's `Collection` talks through, over httpx: the feed's
    timeout, size limit and address policy apply, and the `X-TAXII-Date-Added-Last` header of
    each page (which taxii2-client does not return) is kept for the checkpoint."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._client = http_client(policy)
        self.last_headers: httpx.Headers = httpx.Headers()

    def get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        request_headers = {"Accept": f"{_TAXII_MEDIA_TYPE};version=2.1", **(headers or {})}
        try:
            with self._client.stream(
                "GET", url, headers=request_headers, params=dict(params or {})
            ) as resp:
                if resp.status_code != 200:
                    raise FetchFailed(f"{resp.url}: HTTP {resp.status_code} {resp.reason_phrase}")
                media_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if media_type != _TAXII_MEDIA_TYPE:
                    raise FetchFailed(
                        f"{resp.url}: answered {media_type or 'no content type'}, "
                        f"not {_TAXII_MEDIA_TYPE} (is this a TAXII 2.1 collection URL?)"
                    )
                content = _read_capped(resp, limit=self.policy.max_bytes, url=str(resp.url))
                self.last_headers = resp.headers
        except httpx.HTTPError as exc:
            raise FetchFailed(f"{url}: {type(exc).__name__}: {exc}") from exc
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise FetchFailed(f"{url}: not valid JSON ({exc})") from exc

    def post(self, url: str, *args: Any, **kwargs: Any) -> Any:
        raise FetchFailed(f"{url}: feeds only read from TAXII collections")

    def delete(self, url: str, *args: Any, **kwargs: Any) -> Any:
        raise FetchFailed(f"{url}: feeds only read from TAXII collections")

    def close(self) -> None:
        self._client.close()
