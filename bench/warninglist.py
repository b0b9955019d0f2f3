"""Benchmark: warninglist matching (enrichment.warninglist) against pymispwarninglists' own search.

Usage: .venv/bin/python bench/warninglist.py [--values 200000] [--peer-values 20000] [--data PATH]
                                            [--enrich 100000] [--database-url URL]

Prints, in one run:
- the one-time compilation of the shipped lists (only when the compiled file is missing) and the
  time and memory to load the compiled file;
- the time and memory pymispwarninglists takes to load the same lists (`WarningLists()`);
- matching speed on two workloads: values from the Maltrail static trails (what intake sees:
  malicious domains, URLs and IPs, of which few are on a list), and "listed" values drawn from
  the lists themselves (top sites, cloud and CDN ranges, resolvers, known hashes), most of
  which match. Values are normalised first (not timed), as stored observables are;
- the ratio against `WarningLists.search(value)` on the first --peer-values values of each
  workload (the peer is about 50 times slower, so it gets fewer values; rates are compared).

What the two do differs, and the peer does less: its default search is exact string
membership in each of the 119 lists in turn, so it misses subdomains of hostname lists,
addresses inside CIDR ranges and regex lists; ours does the suffix, range and regex matching
described in docs/enrichment.md. The count of values each one flags is printed beside the rates.

Times are the best of 3 runs in CPU seconds of the process (see `seconds` in bench/extract.py:
the machine is shared). When the Maltrail archive is absent the first workload is skipped with
a message.

Then, with --enrich N (default 100,000; 0 skips), the whole of `enrich_observables` (flags,
enrichment, jurisdiction, written to the database) on N stored observables from the trails (or
the listed values without the archive), in a new SQLite database in a temporary folder, or in a
new database on the PostgreSQL server of --database-url; wall-clock seconds of one run, then of
runs over the same observables with nothing new to write, as a refresh and as intake.

Writes the compiled lists under CYBERFUSION_DATA_DIR (./var by default) and nothing else that
outlives the run.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from cyberfusion.core.db import make_engine
from cyberfusion.core.migrate import upgrade
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.enrichment import warninglist
from cyberfusion.observable.models import Observable
from cyberfusion.observable.normalize import detect
from cyberfusion.registry import service as registry_service

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "maltrail-static.tar.gz"
SEED = 20241129
Pair = tuple[str, str]


def seconds(function: Callable[[], object], *, repeat: int = 3) -> float:
    """The best of `repeat` runs, in CPU seconds of this process."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return best


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def trail_values(path: Path, count: int) -> list[Pair]:
    """A reproducible sample of Maltrail trail lines, normalised by `detect`."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible sampling, not security
    lines: list[str] = []
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            if not (member.isfile() and member.name.endswith(".txt")):
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            for raw in handle.read().decode("utf-8", "replace").splitlines():
                line = raw.strip()
                if line and not line.startswith("#"):
                    lines.append(line)
    rng.shuffle(lines)
    values: list[Pair] = []
    for line in lines:
        found = detect(line)
        if found is not None:
            values.append((found[0].value, found[1]))
            if len(values) == count:
                break
    return values


def listed_values(count: int) -> list[Pair]:
    """Values taken from the shipped lists, as intake would store them: most are listed."""
    rng = random.Random(SEED)  # noqa: S311
    pools: dict[str, list[str]] = {"domain": [], "ip": [], "hash": []}
    for path in sorted(warninglist.shipped_lists_dir().glob("*/list.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw["type"] == "cidr":
            for entry in raw["list"][:2000]:
                try:
                    network = ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    continue
                offset = rng.randrange(min(network.num_addresses, 1 << 16))
                pools["ip"].append(str(network.network_address + offset))
        elif raw["type"] in ("string", "hostname"):
            pool = "hash" if "md5" in raw.get("matching_attributes", []) else "domain"
            pools[pool].extend(rng.sample(raw["list"], min(len(raw["list"]), 20000)))
    values: list[Pair] = []
    # Shares as in threat reports: mostly names, then addresses, some hashes. Drawn with
    # replacement: the address pool is smaller than the share it fills.
    for pool, share in (("domain", 0.6), ("ip", 0.3), ("hash", 0.1)):
        normalised: list[Pair] = []
        for entry in rng.sample(pools[pool], min(len(pools[pool]), count)):
            text = entry.strip().lstrip(".")
            if pool == "domain" and rng.random() < 0.3:
                text = "www." + text  # a name below a listed one
            found = detect(text)
            if found is not None:
                normalised.append((found[0].value, found[1]))
        values.extend(rng.choice(normalised) for _ in range(int(count * share)))
    rng.shuffle(values)
    return values


def run_workload(
    label: str,
    values: list[Pair],
    ours: warninglist.Warninglists,
    peer: object,
    peer_count: int,
) -> None:
    search = peer.search  # type: ignore[attr-defined]
    peer_values = [value for _, value in values[:peer_count]]

    def run_ours() -> None:
        match = ours.match
        for obs_type, value in values:
            match(obs_type, value)

    def run_peer() -> None:
        for value in peer_values:
            search(value)

    ours_seconds = seconds(run_ours)
    peer_seconds = seconds(run_peer)
    ours_rate = len(values) / ours_seconds
    peer_rate = len(peer_values) / peer_seconds
    ours_hits = sum(1 for obs_type, value in values if ours.match(obs_type, value))
    ours_subset_hits = sum(
        1 for obs_type, value in values[:peer_count] if ours.match(obs_type, value)
    )
    peer_hits = sum(1 for value in peer_values if search(value))
    print(f"\n{label}")
    print(
        f"  cyberfusion: {len(values):,} values in {ours_seconds:.3f} s = {ours_rate:,.0f} "
        f"values/s; flagged {ours_hits:,} ({ours_hits / len(values):.1%})"
    )
    print(
        f"  pymispwarninglists search: {len(peer_values):,} values in {peer_seconds:.3f} s = "
        f"{peer_rate:,.0f} values/s; flagged {peer_hits:,} of them (cyberfusion: "
        f"{ours_subset_hits:,})"
    )
    print(f"  ratio: {ours_rate / peer_rate:.1f}x")


@contextmanager
def scratch_database(server_url: str | None) -> Iterator[str]:
    """A new empty database: a SQLite file in a temporary folder, or one on the server."""
    if not server_url:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.sqlite3"
        return
    url = make_url(server_url)
    name = f"cf_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_enrichment(values: list[Pair], server_url: str | None) -> None:
    unique = list(dict.fromkeys(values))
    with scratch_database(server_url) as url:
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            registry_service.sync_members(session=session)
            rows = [
                {
                    "obs_type": obs_type,
                    "value": value,
                    "digest": hashlib.sha256(f"{obs_type}\0{value}".encode()).hexdigest(),
                }
                for obs_type, value in unique
            ]
            session.execute(insert(Observable), rows)
            session.commit()
            ids = list(session.scalars(text("SELECT id FROM observable")))
        enrichment_service.warm_up()  # loading is not what is measured
        print(f"\nenrich_observables on {len(ids):,} stored observables ({engine.dialect.name})")
        runs = (
            ("first run, all new", True),
            ("again with refresh=True (recomputed, nothing new)", True),
            ("again with refresh=False (as intake re-reports them)", False),
        )
        for attempt, refresh in runs:
            with Session(engine) as session:
                started = time.perf_counter()
                summary = enrichment_service.enrich_observables(
                    session=session, observable_ids=ids, refresh=refresh
                )
                session.commit()
                elapsed = time.perf_counter() - started
            print(
                f"  {attempt}: {elapsed:.2f} s = {len(ids) / elapsed:,.0f} observables/s; added "
                f"{summary.flags:,} flags, {summary.enrichments:,} enrichments, "
                f"{summary.jurisdictions:,} jurisdictions"
            )
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=200_000)
    parser.add_argument("--peer-values", type=int, default=20_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--enrich", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    print(f"pymispwarninglists {warninglist.package_version()}, Python {sys.version.split()[0]}")
    path = warninglist.compiled_path()
    if not path.exists():
        # In a child process, so that what it allocates does not blur the memory figures.
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "from cyberfusion.enrichment import warninglist as w; w.load()"],
            check=True,
        )
        print(f"compiled the shipped lists once: {time.perf_counter() - started:.1f} s -> {path}")
    before = rss_mb()
    started = time.perf_counter()
    ours = warninglist.load(path)
    load_seconds = time.perf_counter() - started
    ours_mb = rss_mb() - before
    print(
        f"cyberfusion: loaded {len(ours.lists)} compiled lists in {load_seconds:.3f} s, "
        f"+{ours_mb:.0f} MB ({path.stat().st_size / 1e6:.1f} MB file)"
    )

    from pymispwarninglists import WarningLists

    before = rss_mb()
    started = time.perf_counter()
    peer = WarningLists()
    peer_load = time.perf_counter() - started
    peer_mb = rss_mb() - before
    print(f"pymispwarninglists: loaded {len(peer)} lists in {peer_load:.3f} s, +{peer_mb:.0f} MB")
    print(
        f"load ratio: {peer_load / load_seconds:.0f}x faster, {peer_mb / ours_mb:.1f}x less memory"
    )

    trails = trail_values(args.data, args.values) if args.data.exists() else []
    listed = listed_values(args.values)
    if trails:
        run_workload(
            f"Maltrail trails ({args.data.name}), normalised", trails, ours, peer, args.peer_values
        )
    else:
        print(f"\nMaltrail workload skipped: {args.data} is absent (development data only)")
    run_workload(
        "Listed values (60% names, 30% addresses, 10% hashes, from the shipped lists)",
        listed,
        ours,
        peer,
        args.peer_values,
    )
    del peer
    if args.enrich:
        run_enrichment((trails or listed)[: args.enrich], args.database_url)


if __name__ == "__main__":
    main()
