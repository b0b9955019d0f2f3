"""Benchmark: TAXII 2.1 reads at scale through taxii2-client, on SQLite and PostgreSQL, with the
reference server medallion and the database's own read rate as peers in the same run.

Usage: .venv/bin/python bench/taxii.py [--sizes 100000,1000000] [--db sqlite,postgresql]
           [--load records|intake] [--medallion-objects 2000] [--page 1000]
           [--pg-url postgresql+psycopg://...]

For each database: a new database (migrated, demo world loaded, as bench/intake.py makes
them), then STIX 2.1 indicators are stored up to each size in turn (cumulative: 100,000, then
900,000 more for 1,000,000), labelled TLP:GREEN for all members, by the platform's own code:

- `--load records` (default): the first 100,000 through `intake.service.submit` (the whole
  intake), the rest as intelligence records written by `intake.bulk.insert_records`, the
  multi-row write intake itself uses (`COPY` on PostgreSQL, `executemany` on SQLite), content
  as canonical JSON with its hash, 100,000 per submission; no observables or occurrences
  (TAXII does not read them for stored objects);
- `--load intake`: everything through `intake.service.submit`, bundles of 100,000 (validation
  gate, observables, occurrences, enrichment and correlation hooks: much slower).

At each size `cyberfusion serve` runs as a real HTTP server in a subprocess and NCB France's
officer reads the `members` collection with taxii2-client the way a consumer does:

- time to first page: `Collection.get_objects(limit=page)`, best of three;
- full fetch: every object through `as_pages(get_objects, per_request=page)`, once, timing
  each page request (p50, p99, max);
- the limit: the same rows read straight from the database and serialised as envelopes
  (keyset pages on (date added, id), the stored JSON text joined into the page), in process,
  no HTTP, no sharing filter.

Then medallion (the OASIS reference server, memory backend, loaded from a data file) with
--medallion-objects objects, read the same way; its paging is quadratic (DESIGN.md §11), so it
gets a size it can take. Prints the figures and the ratios; writes only temporary files (the
PostgreSQL databases are dropped).
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from taxii2client.v21 import Collection, Server, as_pages

sys.path.insert(0, str(Path(__file__).resolve().parent))
from intake import DEFAULT_PG, ORG_USER, bench_actor, fresh_database

NAMESPACE = uuid.UUID("2f6d6a58-3c1b-4f4e-8a0e-7d1f2b9c4e11")
TAXII = "application/taxii+json;version=2.1"
LOAD_BUNDLE = 100_000
REPEATS = 3


def indicator(n: int) -> dict[str, Any]:
    """The n-th indicator, the same on every run: one private-range address each."""
    address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
    stamp = f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d}T{n % 24:02d}:00:00.000Z"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(NAMESPACE, str(n))}",
        "created": stamp,
        "modified": stamp,
        "name": f"Bench indicator {n}",
        "indicator_types": ["malicious-activity"],
        "pattern": f"[ipv4-addr:value = '{address}'] AND [network-traffic:dst_port = {n % 65535}]"
        if n % 7 == 0
        else f"[ipv4-addr:value = '{address}']",
        "pattern_type": "stix",
        "valid_from": stamp,
    }


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


def best_of(action: Callable[[], int], repeats: int = REPEATS) -> tuple[float, int]:
    """The best wall-clock time of `repeats` runs, and what the action counted."""
    times = []
    counted = 0
    for _ in range(repeats):
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
    page_times: list[float]

    @property
    def rate(self) -> float:
        return self.fetched / self.full_fetch

    def percentile(self, share: float) -> float:
        ordered = sorted(self.page_times)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def read(
    name: str, collection: Collection, *, objects: int, page: int, full_repeats: int = 1
) -> Figures:
    first, _ = best_of(lambda: len(collection.get_objects(limit=page)["objects"]))
    page_times: list[float] = []

    def timed(**kwargs: Any) -> Any:
        start = time.perf_counter()
        answer = collection.get_objects(**kwargs)
        page_times.append(time.perf_counter() - start)
        return answer

    def fetch_all() -> int:
        page_times.clear()
        return sum(
            len(envelope.get("objects", [])) for envelope in as_pages(timed, per_request=page)
        )

    full, fetched = best_of(fetch_all, full_repeats)
    return Figures(name, objects, first, full, fetched, list(page_times))


# --------------------------------------------------------------------------- cyberfusion


def _options() -> Any:
    from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
    from cyberfusion.sharing.models import Audience, Tlp
    from cyberfusion.sharing.schemas import LabelsIn

    return SubmissionOptions(
        source_format=SourceFormat.STIX,
        labels=LabelsIn(tlp=Tlp.GREEN, audience=Audience.MEMBERS),
    )


def load_intake(engine: Engine, start: int, stop: int) -> float:
    """Indicators start..stop-1 through `intake.service.submit`, bundles of LOAD_BUNDLE;
    seconds, commits included."""
    from cyberfusion.intake import service as intake_service

    seconds = 0.0
    for first in range(start, stop, LOAD_BUNDLE):
        objects = [indicator(n) for n in range(first, min(stop, first + LOAD_BUNDLE))]
        raw = orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})
        del objects
        with Session(engine) as session:
            actor = bench_actor(session)
            began = time.perf_counter()
            answer = intake_service.submit(
                session=session, actor=actor, raw=raw, options=_options()
            )
            session.commit()
            seconds += time.perf_counter() - began
        if answer.accepted != min(stop, first + LOAD_BUNDLE) - first:
            raise RuntimeError(f"intake refused objects: {answer.rejected} rejected")
    return seconds


def load_records(engine: Engine, start: int, stop: int) -> float:
    """Indicators start..stop-1 as intelligence records written by `intake.bulk.insert_records`
    (the multi-row write intake uses: `executemany` on SQLite, `COPY` on PostgreSQL), content
    as canonical JSON with its hash (`intake.bulk.canonical_text`), one submission per
    LOAD_BUNDLE objects, owner and label those intake gave the first bundle. Observables and
    occurrences, which TAXII does not read, are left out. Seconds, commits included."""
    from cyberfusion.intake import bulk
    from cyberfusion.intake.models import Submission
    from cyberfusion.intel.models import IntelObject

    seconds = 0.0
    if start == 0:
        # The first bundle through the whole intake: the owner, label and status it sets.
        seconds += load_intake(engine, 0, min(stop, LOAD_BUNDLE))
        start = min(stop, LOAD_BUNDLE)
    with Session(engine) as session:
        template = session.scalars(
            select(IntelObject).where(IntelObject.stix_id == indicator(0)["id"])
        ).one()
        submission = session.get(Submission, template.submission_id)
        assert submission is not None
        fixed = {
            "owner_org_id": template.owner_org_id,
            "label_id": template.label_id,
            "status": template.status,
            "org_id": submission.org_id,
            "user_id": submission.user_id,
        }
    for first in range(start, stop, LOAD_BUNDLE):
        objects = [indicator(n) for n in range(first, min(stop, first + LOAD_BUNDLE))]
        with Session(engine) as session:
            began = time.perf_counter()
            received = datetime.now(UTC)
            batch = Submission(
                org_id=fixed["org_id"],
                user_id=fixed["user_id"],
                via="bench",
                source_format="stix",
                content_sha256=uuid.uuid4().hex * 2,
                idempotency_key=uuid.uuid4().hex * 2,
                status="accepted",
                accepted=len(objects),
                results={},
                received_at=received,
            )
            session.add(batch)
            session.flush()
            rows = []
            for obj in objects:
                text_, digest = bulk.canonical_text(obj)
                modified = datetime.fromisoformat(obj["modified"].replace("Z", "+00:00"))
                row = (obj["id"], "indicator", "2.1", modified, text_, digest)
                rows.append(
                    (
                        *row,
                        fixed["owner_org_id"],
                        fixed["label_id"],
                        "X",
                        4,
                        50,
                        fixed["status"],
                        received,
                        batch.id,
                        fixed["user_id"],
                        "bench",
                        "stix",
                    )
                )
            bulk.insert_records(session=session, submission_id=batch.id, rows=rows)
            session.commit()
            seconds += time.perf_counter() - began
    return seconds


LOADERS: dict[str, Callable[[Engine, int, int], float]] = {
    "records": load_records,
    "intake": load_intake,
}


def analyse(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        # What autovacuum does after such a load: planner statistics, and the visibility map
        # that lets index-only scans skip the table.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def database_limit(engine: Engine, page: int) -> tuple[float, int]:
    """Seconds to read every indicator of the members audience straight from the database in
    keyset pages of `page` on (date added, id) and serialise each page as an envelope; the
    stored JSON text is joined as is. No HTTP, no sharing filter: the storage engine's own
    rate for the same rows."""
    postgres = engine.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    content = "content::text" if postgres else "content"
    # On SQLite `label_id + 0`, as the TAXII query writes it: without statistics SQLite would
    # otherwise take the label index and sort the whole collection for each page.
    label = "label_id" if postgres else "label_id + 0"
    members = "SELECT id FROM sharing_label WHERE audience = 'members'"
    # Constant texts only; every value is bound.
    first = (
        f"SELECT id, created_at, {content} FROM intel_object "  # noqa: S608
        f"WHERE {label} IN ({members}) ORDER BY created_at, id LIMIT {mark}"
    )
    after = (
        f"SELECT id, created_at, {content} FROM intel_object "  # noqa: S608
        f"WHERE {label} IN ({members}) AND (created_at, id) > ({mark}, {mark}) "
        f"ORDER BY created_at, id LIMIT {mark}"
    )
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        start = time.perf_counter()
        cursor.execute(first, (page + 1,))
        count = 0
        while True:
            rows = cursor.fetchall()
            more = len(rows) > page
            rows = rows[:page]
            body = b'{"more":' + (b"true" if more else b"false") + b',"objects":['
            body += b",".join(row[2].encode() for row in rows) + b"]}"
            count += len(rows)
            if not more:
                break
            cursor.execute(after, (rows[-1][1], rows[-1][0], page + 1))
        seconds = time.perf_counter() - start
        cursor.close()
    finally:
        raw.close()
    return seconds, count


def members_collection(base: str, key: str) -> Collection:
    server = Server(f"{base}/taxii2/", user="bench", password=key)
    return {c.alias: c for c in server.default.collections}["members"]


@dataclass(frozen=True)
class SizeFigures:
    database: str
    size: int
    load_seconds: float
    figures: Figures
    limit_seconds: float
    limit_rows: int


def bench_cyberfusion(
    kind: str, sizes: list[int], page: int, pg_url: str, tmp: Path, loader: str
) -> list[SizeFigures]:
    found: list[SizeFigures] = []
    with fresh_database(kind, pg_url, tmp) as engine:
        url = engine.url.render_as_string(hide_password=False)
        env = {
            **os.environ,
            "CYBERFUSION_DATABASE_URL": url,
            "CYBERFUSION_DATA_DIR": str(tmp / "data"),
            "CYBERFUSION_SECRET_KEY": "taxii-bench",
        }
        key = subprocess.run(  # noqa: S603 (our interpreter, fixed arguments)
            [sys.executable, "-m", "cyberfusion", "apikey", "create", ORG_USER],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[-1]
        loaded = 0
        load_seconds = 0.0
        for size in sizes:
            load_seconds += LOADERS[loader](engine, loaded, size)
            analyse(engine)
            loaded = size
            how = (
                "intake.service.submit"
                if loader == "intake"
                else "intake.bulk.insert_records (the first 100,000 through intake.service.submit)"
            )
            print(
                f"[{kind}] loaded {size:,} indicators through {how} in "
                f"{load_seconds:.1f} s ({size / load_seconds:,.0f} objects/s)"
            )
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            command = [sys.executable, "-m", "cyberfusion", "serve", "--host", "127.0.0.1"]
            with serving(
                [*command, "--port", str(port)], env=env, cwd=tmp, probe=f"{base}/healthz"
            ):
                # The members collection also holds the demo world's record for all members.
                figures = read(
                    "cyberfusion", members_collection(base, key), objects=size + 1, page=page
                )
            limit_seconds, limit_rows = database_limit(engine, page)
            found.append(SizeFigures(kind, size, load_seconds, figures, limit_seconds, limit_rows))
            report(found[-1])
    return found


def report(item: SizeFigures) -> None:
    figures = item.figures
    print(
        f"[{item.database}] {item.size:,} objects: first page {figures.first_page * 1000:.1f} ms; "
        f"full fetch {figures.fetched:,} objects in {figures.full_fetch:.2f} s "
        f"({figures.rate:,.0f} objects/s); page latency p50 "
        f"{figures.percentile(0.5) * 1000:.1f} ms, p99 {figures.percentile(0.99) * 1000:.1f} ms,"
        f" max {max(figures.page_times) * 1000:.1f} ms over {len(figures.page_times):,} pages; "
        f"database limit {item.limit_rows:,} rows in {item.limit_seconds:.2f} s "
        f"({item.limit_rows / item.limit_seconds:,.0f} rows/s): TAXII reaches "
        f"{figures.rate / (item.limit_rows / item.limit_seconds):.0%} of it"
    )


# --------------------------------------------------------------------------- medallion


def bench_medallion(count: int, page: int, tmp: Path) -> Figures:
    objects = [indicator(n) for n in range(count)]
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
        return read("medallion", target, objects=count, page=page)


# --------------------------------------------------------------------------- summary


def summary(ours: list[SizeFigures], medallion: Figures | None, page: int) -> None:
    print(f"\nGet Objects through taxii2-client, pages of {page:,}:")
    print(
        f"{'server':<24} {'objects':>10} {'first page ms':>14} {'full fetch s':>13} "
        f"{'objects/s':>10} {'p99 page ms':>12} {'db limit /s':>12} {'of limit':>9}"
    )
    for item in ours:
        figures = item.figures
        limit = item.limit_rows / item.limit_seconds
        print(
            f"{'cyberfusion ' + item.database:<24} {figures.fetched:>10,} "
            f"{figures.first_page * 1000:>14.1f} {figures.full_fetch:>13.2f} "
            f"{figures.rate:>10,.0f} {figures.percentile(0.99) * 1000:>12.1f} "
            f"{limit:>12,.0f} {figures.rate / limit:>9.0%}"
        )
    if medallion is not None:
        print(
            f"{'medallion (memory)':<24} {medallion.fetched:>10,} "
            f"{medallion.first_page * 1000:>14.1f} {medallion.full_fetch:>13.2f} "
            f"{medallion.rate:>10,.0f} {medallion.percentile(0.99) * 1000:>12.1f}"
        )
    for database in dict.fromkeys(item.database for item in ours):
        runs = [item for item in ours if item.database == database]
        if len(runs) >= 2:
            small, large = runs[0], runs[-1]
            growth = large.figures.full_fetch / small.figures.full_fetch
            print(
                f"[{database}] linearity: {large.size / small.size:.1f}x the objects took "
                f"{growth:.1f}x the time to fetch (per object: "
                f"{small.figures.full_fetch / small.figures.fetched * 1e6:.1f} us, then "
                f"{large.figures.full_fetch / large.figures.fetched * 1e6:.1f} us); first page "
                f"{small.figures.first_page * 1000:.1f} ms, then "
                f"{large.figures.first_page * 1000:.1f} ms"
            )
        if medallion is not None:
            mine = runs[0].figures
            per_object = (medallion.full_fetch / medallion.fetched) / (
                mine.full_fetch / mine.fetched
            )
            print(
                f"[{database}] medallion ({medallion.fetched:,} objects) / cyberfusion "
                f"({mine.fetched:,} objects): first page "
                f"{medallion.first_page / mine.first_page:.0f}x slower, per object over a full "
                f"fetch {per_object:.0f}x slower"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--medallion-objects", type=int, default=2_000, help="0: skip medallion")
    parser.add_argument("--page", type=int, default=1_000)
    parser.add_argument(
        "--load",
        choices=sorted(LOADERS),
        default="records",
        help="how the objects are stored: records (bulk inserts, fast) or intake (all of it)",
    )
    parser.add_argument("--pg-url", default=os.environ.get("CYBERFUSION_BENCH_PG", DEFAULT_PG))
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    sizes = sorted(int(size) for size in args.sizes.split(",") if size)
    ours: list[SizeFigures] = []
    medallion: Figures | None = None
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for kind in filter(None, args.db.split(",")):
            (tmp / kind).mkdir()
            ours += bench_cyberfusion(kind, sizes, args.page, args.pg_url, tmp / kind, args.load)
        if args.medallion_objects:
            (tmp / "medallion").mkdir()
            medallion = bench_medallion(args.medallion_objects, args.page, tmp / "medallion")
            print(
                f"medallion {medallion.fetched:,} objects: first page "
                f"{medallion.first_page * 1000:.1f} ms, full fetch {medallion.full_fetch:.2f} s"
            )
    summary(ours, medallion, args.page)
    for item in ours:
        assert item.figures.fetched == item.size + 1, item
    if medallion is not None:
        assert medallion.fetched == args.medallion_objects, medallion


if __name__ == "__main__":
    main()
