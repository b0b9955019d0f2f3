"""Benchmark: TAXII 2.1 reads through taxii2-client, cyberfusion against medallion.

Usage: .venv/bin/python bench/taxii.py [--objects 10000] [--medallion-objects 2000] [--page 1000]

Both servers run as real HTTP servers in subprocesses and are read with taxii2-client, the way a
consumer reads them: the first page of Get Objects, then the whole collection page by page with
`as_pages`. cyberfusion runs on a fresh SQLite database (migrations, demo world, an API key)
and gets its objects through its own Add Objects endpoint, timed too. medallion (the OASIS
reference server) runs its memory backend loaded from a data file with fewer objects, since
its paging is quadratic (DESIGN.md §11: 10,000 objects took 417 s). Each read is taken three
times and the best wall-clock time kept. Prints the figures and the ratios; writes only in a
temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from taxii2client.v21 import Collection, Server, as_pages

NAMESPACE = uuid.UUID("2f6d6a58-3c1b-4f4e-8a0e-7d1f2b9c4e11")
TAXII = "application/taxii+json;version=2.1"
REPEATS = 3


def indicators(count: int) -> list[dict[str, Any]]:
    """The same objects on every run: indicators of documentation-range addresses."""
    objects = []
    for n in range(count):
        address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        objects.append(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.uuid5(NAMESPACE, str(n))}",
                "created": "2026-11-02T10:00:00.000Z",
                "modified": "2026-11-02T10:00:00.000Z",
                "name": f"Bench indicator {n}",
                "pattern": f"[ipv4-addr:value = '{address}']",
                "pattern_type": "stix",
                "valid_from": "2026-11-02T10:00:00Z",
            }
        )
    return objects


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(command: list[str], *, env: dict[str, str], cwd: Path, probe: str) -> Iterator[None]:
    """Run a server until the block ends; `probe` answers once it listens."""
    log = (cwd / "server.log").open("w")
    # Our own interpreter with fixed arguments: nothing untrusted reaches the command line.
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError((cwd / "server.log").read_text())
            try:
                httpx.get(probe, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def best_of(action: Callable[[], int]) -> tuple[float, int]:
    """The best wall-clock time of REPEATS runs, and what the action counted."""
    times = []
    counted = 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        counted = action()
        times.append(time.perf_counter() - start)
    return min(times), counted


@dataclass(frozen=True)
class Figures:
    name: str
    objects: int
    first_page: float
    full_fetch: float
    fetched: int


def read(name: str, collection: Collection, *, objects: int, page: int) -> Figures:
    first, _ = best_of(lambda: len(collection.get_objects(limit=page)["objects"]))
    full, fetched = best_of(
        lambda: sum(
            len(envelope.get("objects", []))
            for envelope in as_pages(collection.get_objects, per_request=page)
        )
    )
    return Figures(name, objects, first, full, fetched)


def bench_cyberfusion(objects: list[dict[str, Any]], page: int, tmp: Path) -> Figures:
    env = {
        **os.environ,
        "CYBERFUSION_DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "CYBERFUSION_DATA_DIR": str(tmp / "data"),
        "CYBERFUSION_SECRET_KEY": "taxii-bench",
    }

    def cli(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 (our interpreter, fixed arguments)
            [sys.executable, "-m", "cyberfusion", *args],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    cli("db", "upgrade")
    cli("demo")
    key = cli("apikey", "create", "officer@ncb-fr.cyberfusion.example").splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "cyberfusion", "serve", "--host", "127.0.0.1"]
    with serving([*command, "--port", str(port)], env=env, cwd=tmp, probe=f"{base}/healthz"):
        server = Server(f"{base}/taxii2/", user="bench", password=key)
        members = {c.alias: c for c in server.default.collections}["members"]
        start = time.perf_counter()
        status = members.add_objects({"objects": objects})
        added = time.perf_counter() - start
        print(
            f"cyberfusion Add Objects: {status.success_count:,} of {status.total_count:,} "
            f"objects stored in {added:.2f} s ({status.total_count / added:,.0f} objects/s)"
        )
        # The members collection also holds the demo world's record for all members.
        return read("cyberfusion", members, objects=len(objects) + 1, page=page)


def bench_medallion(objects: list[dict[str, Any]], page: int, tmp: Path) -> Figures:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    collection = str(uuid.uuid5(NAMESPACE, "medallion-collection"))
    added = "2026-11-02T10:00:00.000000Z"
    data = {
        "/discovery": {
            "title": "medallion bench",
            "default": f"{base}/bench/",
            "api_roots": [f"{base}/bench/"],
        },
        "bench": {
            "information": {
                "title": "bench",
                "versions": [TAXII],
                "max_content_length": 100_000_000,
            },
            "status": [],
            "collections": [
                {
                    "id": collection,
                    "title": "bench",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": objects,
                    "manifest": [
                        {
                            "id": obj["id"],
                            "date_added": added,
                            "version": obj["modified"],
                            "media_type": "application/stix+json;version=2.1",
                        }
                        for obj in objects
                    ],
                }
            ],
        },
    }
    (tmp / "data.json").write_text(json.dumps(data))
    password = "bench-password"  # noqa: S105 (a throwaway server on localhost)
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(tmp / "data.json"),
        },
        "users": {"bench": password},
        "taxii": {"max_page_size": page},
    }
    (tmp / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1"]
    command += ["--port", str(port), str(tmp / "config.json")]
    with serving(command, env=dict(os.environ), cwd=tmp, probe=f"{base}/taxii2/"):
        url = f"{base}/bench/collections/{collection}/"
        target = Collection(url, user="bench", password=password)
        return read("medallion", target, objects=len(objects), page=page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--medallion-objects", type=int, default=2_000)
    parser.add_argument("--page", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as ours, tempfile.TemporaryDirectory() as peer:
        mine = bench_cyberfusion(indicators(args.objects), args.page, Path(ours))
        theirs = bench_medallion(indicators(args.medallion_objects), args.page, Path(peer))
    print(f"\nGet Objects through taxii2-client, pages of {args.page:,}, best of {REPEATS}:")
    print(
        f"{'server':<12} {'objects':>8} {'first page s':>13} {'full fetch s':>13} {'ms/1k obj':>10}"
    )
    for figures in (mine, theirs):
        assert figures.fetched == figures.objects, figures
        per_thousand = figures.full_fetch / figures.objects * 1_000_000
        print(
            f"{figures.name:<12} {figures.objects:>8,} {figures.first_page:>13.3f} "
            f"{figures.full_fetch:>13.3f} {per_thousand:>10.1f}"
        )
    per_object = (theirs.full_fetch / theirs.objects) / (mine.full_fetch / mine.objects)
    print(
        f"\nmedallion ({theirs.objects:,} objects) / cyberfusion ({mine.objects:,} objects): "
        f"first page {theirs.first_page / mine.first_page:.1f}x, "
        f"full fetch {theirs.full_fetch / mine.full_fetch:.1f}x; "
        f"per object, full fetch {per_object:.1f}x"
    )


if __name__ == "__main__":
    main()
