"""Benchmark: intake speed and memory, against the peers the issue names, measured in one run.

Usage: .venv/bin/python bench/intake.py [--db sqlite,postgresql] [--data PATH]
           [--bundle 100000] [--stix2-objects 0] [--rss-mb 1024] [--skip list,bundle,rss]
           [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Each measurement runs on a new database (a SQLite file in a temporary directory, or a
PostgreSQL database created for it and dropped after), migrated and loaded with the demo world.

1. Value list: every Maltrail static trail file (../shared/data/maltrail-static.tar.gz),
   concatenated as they are (comments included) into one file, submitted with
   `intake.service.submit_file` as a one-column list (type detected, partial=true since
   Maltrail has entries no type accepts, such as bare paths). Figure: value rows per second,
   end to end (read, normalise, store, commit). Peer: a raw `executemany` of the same
   normalised rows (the observables and occurrences the intake stored, digests computed
   before the clock starts) into the same tables, with the same SQLite page cache.
2. STIX bundle: generated indicators with patterns (IPv4, domain, URL, SHA-256; TLP:AMBER
   marking), submitted as one bundle with `intake.service.submit`. Peers: `stix2.parse(obj,
   allow_custom=True)` over the same objects (all of them unless --stix2-objects says how
   many, the rate then being per object), and a raw `executemany` of the same normalised rows
   (records with their canonical JSON, observables, occurrences). Also timed, apart: the part
   of the intake that stores nothing (`intake.service.parse`: JSON, validation gate; then the
   observables of every object), to show how much of the time is storage.
3. Memory: a child process submits a value list of --rss-mb MiB (unique URLs of about 180
   bytes, generated from Maltrail domains) on SQLite; it reports its peak RSS before and after
   the intake (VmHWM from /proc/self/status; `resource.getrusage` where there is no /proc, as
   on Linux ru_maxrss also counts the parent the child was forked from).

Prints the figures and the ratios against the peers. Writes only temporary files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "maltrail-static.tar.gz"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ORG_USER = "officer@ncb-fr.cyberfusion.example"
TLP_AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
BENCH_NAMESPACE = uuid.UUID("5f0c1a52-3a55-4d0f-9c1e-0f2d7b3c9e41")


# --------------------------------------------------------------------------- databases


@contextmanager
def fresh_database(
    kind: str, pg_url: str, tmp: Path, *, template: str | None = None
) -> Iterator[Engine]:
    """A migrated database with the demo world, or a copy of `template` (an SQLite file, a
    PostgreSQL database) migrated to the current schema; removed afterwards."""
    from cyberfusion.core.db import make_engine
    from cyberfusion.core.migrate import upgrade

    if kind == "sqlite":
        path = tmp / f"bench-{uuid.uuid4().hex[:8]}.sqlite3"
        if template is not None:
            shutil.copyfile(template, path)
        url = f"sqlite:///{path}"
        admin = None
        name = ""
    else:
        base = make_url(pg_url)
        name = f"cf_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        copy = f' TEMPLATE "{template}"' if template is not None else ""
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        if template is None:
            _prepare(url, engine)
        else:
            upgrade(url)
        yield engine
    finally:
        engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _prepare(url: str, engine: Engine) -> None:
    from argon2 import PasswordHasher

    from cyberfusion.account import service as account_service
    from cyberfusion.account.schemas import Actor
    from cyberfusion.core.migrate import upgrade
    from cyberfusion.core.tables import import_all
    from cyberfusion.demo import service as demo_service

    import_all()
    upgrade(url)
    # The demo users' password hashes are not what is measured.
    account_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with Session(engine) as session:
        demo_service.load(session=session, actor=Actor.operator("bench"))
        session.commit()


def bench_actor(session: Session) -> Any:
    from cyberfusion.account import service as account_service

    user = account_service.get_by_email_or_raise(session=session, email=ORG_USER)
    return account_service.actor_for(user, via="bench")


def sqlite_cache(session: Session) -> None:
    """The page cache the bulk intake uses, for the peer too (a fair comparison)."""
    from cyberfusion.intake.bulk import SQLITE_CACHE_KIB

    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")


# --------------------------------------------------------------------------- inputs


def maltrail_list(archive: Path, target: Path) -> int:
    """Concatenate the static trail files into `target`; returns the number of value lines."""
    values = 0
    with tarfile.open(archive, "r:gz") as tar, target.open("wb") as out:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if not (member.isfile() and "/static/" in member.name and member.name.endswith(".txt")):
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            data = handle.read()
            out.write(data if data.endswith(b"\n") else data + b"\n")
            values += sum(
                1
                for line in data.splitlines()
                if line.strip() and not line.lstrip().startswith(b"#")
            )
    return values


def maltrail_domains(archive: Path, limit: int) -> list[str]:
    from cyberfusion.observable.normalize import ObservableType, detect

    found: list[str] = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if not (member.isfile() and "/malware/" in member.name):
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            for line in handle.read().decode("utf-8", "replace").splitlines():
                value = line.split("#", 1)[0].strip()
                hit = detect(value) if value else None
                if hit is not None and hit[0] is ObservableType.DOMAIN:
                    found.append(hit[1])
                    if len(found) == limit:
                        return found
    return found


def generated_bundle(count: int, domains: list[str]) -> dict[str, Any]:
    """Indicators whose patterns carry IPv4 addresses, domains, URLs and SHA-256 hashes."""
    objects = []
    for number in range(count):
        kind = number % 10
        domain = domains[number % len(domains)]
        if kind < 4:
            value = f"{(number >> 16) % 223 + 1}.{(number >> 8) & 255}.{number & 255}.{kind + 1}"
            pattern, name = f"[ipv4-addr:value = '{value}']", value
        elif kind < 7:
            value = f"n{number}.{domain}"
            pattern, name = f"[domain-name:value = '{value}']", value
        elif kind < 9:
            value = f"http://{domain}/gate/{number}.php"
            pattern, name = f"[url:value = '{value}']", value
        else:
            value = hashlib.sha256(str(number).encode()).hexdigest()
            pattern, name = f"[file:hashes.'SHA-256' = '{value}']", f"sample {number}"
        stamp = f"2025-{number % 12 + 1:02d}-{number % 28 + 1:02d}T{number % 24:02d}:00:00.000Z"
        objects.append(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.uuid5(BENCH_NAMESPACE, str(number))}",
                "created": stamp,
                "modified": stamp,
                "name": name,
                "indicator_types": ["malicious-activity"],
                "pattern": pattern,
                "pattern_type": "stix",
                "valid_from": stamp,
                "labels": ["maltrail"],
                "object_marking_refs": [TLP_AMBER],
            }
        )
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}


def rss_list(archive: Path, target: Path, megabytes: int) -> int:
    """A value list of unique URLs of about 180 bytes, `megabytes` MiB in all; its rows."""
    domains = maltrail_domains(archive, 50_000)
    size = megabytes << 20
    pad = "a" * 140
    rows = 0
    written = 0
    with target.open("w", encoding="utf-8") as out:
        while written < size:
            lines = [
                f"http://{domains[(rows + i) % len(domains)]}/{pad}/{rows + i}.php\n"
                for i in range(100_000)
            ]
            block = "".join(lines)
            out.write(block)
            written += len(block.encode())
            rows += len(lines)
    return rows


# --------------------------------------------------------------------------- measurements


def rate(count: int, seconds: float) -> str:
    return f"{count:>10,} in {seconds:8.2f} s = {count / seconds:>9,.0f} /s"


def list_intake(engine: Engine, path: Path) -> tuple[float, Any]:
    from cyberfusion.intake import service as intake_service
    from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions

    with Session(engine) as session:
        actor = bench_actor(session)
        start = time.perf_counter()
        result = intake_service.submit_file(
            session=session,
            actor=actor,
            source=path,
            options=SubmissionOptions(source_format=SourceFormat.CSV, partial=True),
        )
        session.commit()
        return time.perf_counter() - start, result


def stored_rows(engine: Engine, submission_id: int) -> list[tuple[str, str, str]]:
    """(type, value, digest) of the observables a submission reported: its normalised rows."""
    with engine.connect() as conn:
        return [
            (row[0], row[1], row[2])
            for row in conn.execute(
                text(
                    "SELECT o.obs_type, o.value, o.digest FROM occurrence c "
                    "JOIN observable o ON o.id = c.observable_id WHERE c.submission_id = :s"
                ),
                {"s": submission_id},
            )
        ]


# The peer's statements; {m} is the driver's placeholder. Constant texts, every value bound.
PEER_SUBMISSION = (
    "INSERT INTO submission (org_id, via, source_format, content_sha256, idempotency_key, "
    "partial, status, accepted, duplicates, rejected, results, received_at) "
    "VALUES ({m}, 'bench', 'csv', {m}, {m}, false, 'accepted', 0, 0, 0, '{{}}', {m}) RETURNING id"
)
PEER_RECORDS = "INSERT INTO intel_object ({columns}) VALUES ({marks})"
PEER_RECORD_IDS = "SELECT id FROM intel_object WHERE submission_id = {m} ORDER BY id"
PEER_OBSERVABLES = (
    "INSERT INTO observable (obs_type, value, digest, created_at) VALUES ({m}, {m}, {m}, {m})"
)
PEER_OBSERVABLE_IDS = "SELECT id FROM observable WHERE created_at = {m} ORDER BY id"
PEER_OCCURRENCES = (
    "INSERT INTO occurrence (observable_id, intel_object_id, owner_org_id, label_id, "
    "submission_id, reported_at) VALUES ({m}, {m}, {m}, {m}, {m}, {m})"
)


def peer_rows(
    engine: Engine,
    records: list[tuple[Any, ...]],
    observables: list[tuple[str, str, str]],
    links: list[tuple[int, int]],
) -> float:
    """Raw executemany of records, observables and occurrences (observable index, record index);
    seconds, commit included."""
    from cyberfusion.intake.bulk import RECORD_COLUMNS
    from cyberfusion.observable.service import _bound_time

    with Session(engine) as session:
        actor = bench_actor(session)
        sqlite_cache(session)
        label_id = session.execute(text("SELECT min(id) FROM sharing_label")).scalar_one()
        mark = "%s" if engine.dialect.name == "postgresql" else "?"
        now = _bound_time(session, datetime.now(UTC))
        prepared = []
        for row in records:
            values = list(row)
            values[3] = values[12] = now
            values[6], values[7] = actor.org_id, label_id
            prepared.append(values)
        cursor = session.connection().connection.cursor()
        start = time.perf_counter()
        cursor.execute(
            PEER_SUBMISSION.format(m=mark), (actor.org_id, "peer", uuid.uuid4().hex, now)
        )
        submission_id = int(cursor.fetchone()[0])
        for values in prepared:
            values[13] = submission_id
        cursor.executemany(
            PEER_RECORDS.format(
                columns=", ".join(RECORD_COLUMNS), marks=", ".join([mark] * len(RECORD_COLUMNS))
            ),
            prepared,
        )
        cursor.execute(PEER_RECORD_IDS.format(m=mark), (submission_id,))
        record_ids = [row[0] for row in cursor.fetchall()]
        cursor.executemany(
            PEER_OBSERVABLES.format(m=mark),
            [(obs_type, value, digest, now) for obs_type, value, digest in observables],
        )
        cursor.execute(PEER_OBSERVABLE_IDS.format(m=mark), (now,))
        observable_ids = [row[0] for row in cursor.fetchall()]
        cursor.executemany(
            PEER_OCCURRENCES.format(m=mark),
            [
                (observable_ids[o], record_ids[r], actor.org_id, label_id, submission_id, now)
                for o, r in links
            ],
        )
        session.commit()
        return time.perf_counter() - start


def grouping_record() -> tuple[Any, ...]:
    content = orjson.dumps({"type": "grouping", "id": f"grouping--{uuid.uuid4()}"}).decode()
    return (f"grouping--{uuid.uuid4()}", "grouping", "2.1", None, content,
            hashlib.sha256(content.encode()).hexdigest(), None, None, "X", 4, 50, "validated",
            None, None, None, "bench", "csv")  # fmt: skip


def bench_list(kind: str, pg_url: str, archive: Path, tmp: Path) -> None:
    path = tmp / "maltrail.txt"
    values = maltrail_list(archive, path)
    print(f"\n[{kind}] value list: {values:,} value lines, {path.stat().st_size / 1e6:.1f} MB")
    with fresh_database(kind, pg_url, tmp) as engine:
        seconds, result = list_intake(engine, path)
        rows = stored_rows(engine, result.id)
    print(
        f"  cyberfusion submit_file      {rate(values, seconds)} value rows "
        f"({result.accepted:,} accepted, {result.duplicates:,} duplicates, "
        f"{result.rejected:,} rejected)"
    )
    with fresh_database(kind, pg_url, tmp) as engine:
        peer = peer_rows(engine, [grouping_record()], rows, [(i, 0) for i in range(len(rows))])
    print(f"  peer executemany, same rows  {rate(len(rows), peer)} observables + occurrences")
    print(
        f"  ratio: intake stores the same rows at {peer / seconds:.0%} of the peer's rate "
        f"(target >= 25%); {values / seconds:,.0f} value rows/s end to end (target >= 50,000)"
    )


def bench_bundle(kind: str, pg_url: str, archive: Path, tmp: Path, count: int, sample: int) -> None:
    import stix2

    from cyberfusion.core.collector import paused as gc_paused
    from cyberfusion.intake import service as intake_service
    from cyberfusion.intake.bulk import canonical_text
    from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
    from cyberfusion.observable.service import digest, observables_of

    bundle = generated_bundle(count, maltrail_domains(archive, 20_000))
    raw = orjson.dumps(bundle)
    print(f"\n[{kind}] STIX bundle: {count:,} indicators, {len(raw) / 1e6:.1f} MB")
    with fresh_database(kind, pg_url, tmp) as engine, Session(engine) as session:
        actor = bench_actor(session)
        start = time.perf_counter()
        result = intake_service.submit(
            session=session,
            actor=actor,
            raw=raw,
            options=SubmissionOptions(source_format=SourceFormat.STIX),
        )
        session.commit()
        seconds = time.perf_counter() - start
    print(
        f"  cyberfusion submit           {rate(count, seconds)} objects "
        f"({result.accepted:,} accepted, {result.rejected:,} rejected)"
    )
    objects = bundle["objects"] if not sample else bundle["objects"][:sample]
    start = time.perf_counter()
    for obj in objects:
        stix2.parse(obj, allow_custom=True)
    parse_seconds = time.perf_counter() - start
    print(f"  stix2.parse(allow_custom)    {rate(len(objects), parse_seconds)} objects")
    ours = count / seconds
    theirs = len(objects) / parse_seconds
    print(f"  ratio: intake is {ours / theirs:.1f} times faster than stix2.parse (target >= 20)")
    # The share of the intake that is not storage: what stix2.parse itself does, and more.
    with gc_paused():
        start = time.perf_counter()
        parsed = intake_service.parse(raw, SourceFormat.STIX, received_at=datetime.now(UTC))
        extracted = sum(len(observables_of(item.content)) for item in parsed.objects)
        gate_seconds = time.perf_counter() - start
    print(
        f"  of which read, validate, extract {rate(count, gate_seconds)} objects "
        f"({extracted:,} observables, nothing stored): {count / gate_seconds / theirs:.1f} "
        "times stix2.parse"
    )

    records = []
    observables: dict[str, tuple[str, str, str]] = {}
    positions: dict[str, int] = {}
    links = []
    for position, obj in enumerate(bundle["objects"]):
        content, content_digest = canonical_text(obj)
        row = (obj["id"], "indicator", "2.1", None, content, content_digest, None, None)
        records.append((*row, "X", 4, 50, "validated", None, None, None, "bench", "stix"))
        for obs_type, value in observables_of(obj):
            key = digest(obs_type, value)
            if key not in observables:
                observables[key] = (obs_type, value, key)
                positions[key] = len(positions)
            links.append((positions[key], position))
    with fresh_database(kind, pg_url, tmp) as engine:
        peer = peer_rows(engine, records, list(observables.values()), links)
    print(
        f"  peer executemany, same rows  {rate(count, peer)} objects (+ observables, occurrences)"
    )
    print(f"  ratio: intake reaches {peer / seconds:.0%} of the peer's rate (target >= 25%)")


def bench_rss(archive: Path, tmp: Path, megabytes: int, pg_url: str) -> None:
    path = tmp / "big-list.txt"
    rows = rss_list(archive, path, megabytes)
    size = path.stat().st_size
    print(
        f"\n[sqlite] memory: value list of {size / 2**20:,.0f} MiB, {rows:,} rows (child process)"
    )
    child = subprocess.run(  # noqa: S603 (this interpreter, this script, fixed arguments)
        [sys.executable, __file__, "--rss-child", str(path), "--pg-url", pg_url],
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(child.stdout.strip().splitlines()[-1])
    print(
        f"  peak RSS {report['peak_mib']:,.0f} MiB (before the intake: {report['before_mib']:,.0f}"
        f" MiB) for {size / 2**20:,.0f} MiB of input (target < 1024 MiB); "
        f"{rate(report['rows'], report['seconds'])} rows"
    )


def peak_mib() -> float:
    """Peak resident memory of this process, in MiB: VmHWM where Linux has it, as it counts from
    exec (ru_maxrss keeps the peak of the parent the child was forked from), else ru_maxrss."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def rss_child(path: Path, pg_url: str) -> None:
    """Run in a child process: one list intake on SQLite, then print JSON with the peak RSS."""
    with tempfile.TemporaryDirectory() as tmp, fresh_database("sqlite", pg_url, Path(tmp)) as eng:
        before = peak_mib()
        seconds, result = list_intake(eng, path)
        peak = peak_mib()
    rows = result.accepted + result.duplicates + result.rejected
    print(json.dumps({"peak_mib": peak, "before_mib": before, "seconds": seconds, "rows": rows}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--bundle", type=int, default=100_000)
    parser.add_argument("--stix2-objects", type=int, default=0, help="0: all of the bundle")
    parser.add_argument("--rss-mb", type=int, default=1024)
    parser.add_argument("--skip", default="")
    parser.add_argument("--pg-url", default=os.environ.get("CYBERFUSION_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    # Figures as they come: a full run takes a quarter of an hour.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    if args.rss_child:
        rss_child(args.rss_child, args.pg_url)
        return
    skip = set(filter(None, args.skip.split(",")))
    kinds = [kind for kind in args.db.split(",") if kind]
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for kind in kinds:
            if "list" not in skip:
                bench_list(kind, args.pg_url, args.data, tmp)
            if "bundle" not in skip:
                bench_bundle(kind, args.pg_url, args.data, tmp, args.bundle, args.stix2_objects)
        if "rss" not in skip:
            bench_rss(args.data, tmp, args.rss_mb, args.pg_url)


if __name__ == "__main__":
    main()
