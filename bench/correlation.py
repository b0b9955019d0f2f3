"""Benchmark: correlation at scale — intake with correlation on, lookups, graph, storage.

Usage: .venv/bin/python bench/correlation.py [--observables 200000] [--preload 0] [--maltrail PATH]
           [--db sqlite,postgresql] [--orgs 4] [--shared 0.3] [--lookups 1000]
           [--batch 250000] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
           [--snapshot NAME] [--prewarm]

On a new database (migrated, demo world loaded) per engine:

0. Preload (`--preload N`, optional): with `--maltrail`, first every Maltrail trail (about 1.5
   million real values, ../shared/data/maltrail-static.tar.gz), then up to N in all of further
   distinct generated values of the same shapes, reported
   the same way through the same intake, but with correlation switched off (no enrichment,
   links, corroboration or notices), so that a database of 10 million observables is built in
   minutes rather than hours. It makes `observable` and `occurrence`, which every correlation
   query searches, as large as they would be; its own time is printed but is not the figure.
   On PostgreSQL an ANALYZE follows, as autovacuum would. With `--snapshot NAME` the
   preloaded database is kept (PostgreSQL: a database NAME; SQLite: the file
   var/bench/NAME.sqlite3) and later runs with the same NAME start from a copy of it
   (`CREATE DATABASE ... TEMPLATE`, or a file copy), migrated to the current head. Such a
   copy starts with nothing cached; `--prewarm` reads the observable and occurrence tables
   and their indexes into PostgreSQL's shared buffers first (`pg_prewarm`), as a server that
   has been running holds them.

1. Intake. `--observables` distinct values (45% names under 2,000 registered domains, 25%
   URLs on those names, 30% IPv4 addresses and /24 blocks), each reported by one organisation
   and a `--shared` fraction by a second one too (community labels), submitted as one-column
   value lists of `--batch` rows with `intake.service.submit_file` and committed. Lists above
   CYBERFUSION_INLINE_CORRELATION_MAX rows (20,000) are stored at bulk speed and correlated by
   the job (`correlation.jobs.run_pending`, run here until nothing waits): flag, enrich,
   place, link, assess, notify. Figures: rows per second stored, correlated by the job, and
   end to end; the CPU seconds the job took from this process, from the processes it started
   (the enrichment's worker), from the database server (PostgreSQL on this machine) and from
   the whole machine (Linux: read from /proc). Peer: a raw `executemany` of the same
   (digest, type, value) rows into a bare table with a unique index, in the same run and the
   same engine.
2. Lookups. `correlation.service.correlate_value` as the hub's analyst (hit/no-hit included,
   so each lookup also writes its audit entry), on `--lookups` values drawn from the stored
   ones: p50 and p95 in milliseconds, exact and related (containing blocks, parent names and
   names below, URL host).
3. Graph. `correlation.graph.neighbourhood` depth 2, limit 500, on 200 of those values: p50, p95.
4. Storage. Rows of `occurrence`, `observable_link`, `observable_assessment`, and the rows a
   pairwise correlation table would hold for the same reports (MISP's `correlations` keeps one
   row per ordered pair of attributes with the same value: sum of k(k-1) over values reported
   k times, computed here from `occurrence`, not measured in MISP). Database size on disk.

Writes only temporary files; PostgreSQL databases are dropped afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bench_intake", _HERE / "intake.py")
assert _spec is not None and _spec.loader is not None
bench_intake = importlib.util.module_from_spec(_spec)
sys.modules["bench_intake"] = bench_intake
_spec.loader.exec_module(bench_intake)

_SNAPSHOTS = _HERE.parent / "var" / "bench"
REPORTERS = ["cert-fr", "cert-ng", "cert-br", "partner-northwind", "cert-sg", "cert-jo"]
HUB_USER = "analyst@hub.cyberfusion.example"
WORDS = ["secure", "login", "update", "verify", "account", "pay", "mail", "cdn", "api", "bank"]
TLDS = ["xyz", "top", "ru", "cn", "info", "online", "site", "club", "biz", "br"]


def generate(count: int, seed: int = 7, prefix: str = "") -> list[tuple[str, str]]:
    """`count` distinct (type, value) pairs shaped like threat data (see the module doc); a
    `prefix` keeps two sets apart (names and URLs differ; addresses may repeat)."""
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not secrets
    registered = [
        f"{rng.choice(WORDS)}{rng.choice(WORDS)}{n}.{rng.choice(TLDS)}" for n in range(2000)
    ]
    values: dict[tuple[str, str], None] = {}
    n = 0
    while len(values) < count:
        n += 1
        pick = rng.random()
        base = registered[rng.randrange(len(registered))]
        if pick < 0.45:
            item = ("domain-name", f"{prefix}{rng.choice(WORDS)}-{n}.{base}")
        elif pick < 0.70:
            item = (
                "url",
                f"http://{prefix}{rng.choice(WORDS)}-{n % 5000}.{base}/{n:x}/gate.php",
            )
        else:
            # Public unicast, away from the reserved blocks: 11.0.0.0 - 99.255.255.255.
            a = rng.randrange(11, 100)
            if rng.random() < 0.05:
                item = ("ipv4-addr", f"{a}.{rng.randrange(256)}.{rng.randrange(256)}.0/24")
            else:
                item = (
                    "ipv4-addr",
                    f"{a}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                )
        values[item] = None
    return list(values)


def assign(
    values: list[tuple[str, str]], orgs: int, shared: float, seed: int = 11
) -> dict[str, list[str]]:
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not secrets
    names = REPORTERS[:orgs]
    lists: dict[str, list[str]] = {name: [] for name in names}
    for _, value in values:
        first = rng.randrange(orgs)
        lists[names[first]].append(value)
        if rng.random() < shared:
            second = (first + 1 + rng.randrange(orgs - 1)) % orgs
            lists[names[second]].append(value)
    return lists


def actor_for(session: Session, email: str | None = None, org: str | None = None) -> Any:
    from cyberfusion.account import service as account_service
    from cyberfusion.account.permissions import Role
    from cyberfusion.account.schemas import Actor
    from cyberfusion.registry import service as registry_service

    if email is not None:
        user = account_service.get_by_email_or_raise(session=session, email=email)
        return account_service.actor_for(user, via="bench")
    assert org is not None
    found = registry_service.get_by_slug_or_raise(session=session, slug=org)
    return Actor.for_organisation(found, roles=(Role.PARTNER_ANALYST.value,), via="bench")


def intake(
    engine: Engine, lists: dict[str, list[str]], batch: int, tmp: Path, *, quiet: bool = False
) -> tuple[float, float, int]:
    """Submit every list in batches; (seconds in all, seconds in correlation, rows)."""
    from cyberfusion.correlation import service as correlation_service
    from cyberfusion.intake import service as intake_service
    from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
    from cyberfusion.sharing.schemas import LabelsIn

    spent = [0.0]
    original = correlation_service.after_intake

    def timed(**kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(**kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    correlation_service.after_intake = timed  # type: ignore[assignment]
    rows = 0
    total = 0.0
    try:
        for org, values in lists.items():
            for start in range(0, len(values), batch):
                chunk = values[start : start + batch]
                path = tmp / f"{org}-{start}.txt"
                path.write_text("\n".join(chunk) + "\n")
                with Session(engine) as session:
                    actor = actor_for(session, org=org)
                    began = time.perf_counter()
                    result = intake_service.submit_file(
                        session=session,
                        actor=actor,
                        source=path,
                        options=SubmissionOptions(
                            source_format=SourceFormat.CSV,
                            labels=LabelsIn(tlp="green", audience="community"),
                        ),
                    )
                    session.commit()
                    total += time.perf_counter() - began
                assert result.rejected == 0, result.results[:3]
                rows += len(chunk)
                path.unlink()
                if not quiet:
                    print(f"    {org}: {rows:,} rows, {total:.1f} s", flush=True)
    finally:
        correlation_service.after_intake = original  # type: ignore[assignment]
    return total, spent[0], rows


def preload(engine: Engine, count: int, args: argparse.Namespace, tmp: Path) -> None:
    from cyberfusion.correlation import service as correlation_service

    saved = correlation_service.after_intake
    if args.maltrail:
        # The real data first: every Maltrail trail, as cert-fr's list, then generated values
        # up to the count.
        path = tmp / "maltrail.txt"
        trails = bench_intake.maltrail_list(Path(args.maltrail), path)
        correlation_service.after_intake = lambda **kwargs: None  # type: ignore[assignment]
        try:
            with Session(engine) as session:
                from cyberfusion.intake import service as intake_service
                from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions

                began = time.perf_counter()
                result = intake_service.submit_file(
                    session=session,
                    actor=actor_for(session, org="cert-fr"),
                    source=path,
                    options=SubmissionOptions(source_format=SourceFormat.CSV, partial=True),
                )
                session.commit()
                took = time.perf_counter() - began
        finally:
            correlation_service.after_intake = saved  # type: ignore[assignment]
        path.unlink()
        print(
            f"  preload Maltrail (correlation off): {trails:,} lines, "
            f"{result.accepted:,} values in {took:.1f} s",
            flush=True,
        )
        count = max(0, count - result.accepted)
    values = generate(count, seed=99, prefix="p")
    lists = assign(values, args.orgs, args.shared, seed=98)

    def no_correlation(**kwargs: Any) -> Any:
        return correlation_service.CorrelationSummary(0, 0, 0, 0)

    correlation_service.after_intake = no_correlation  # type: ignore[assignment]
    try:
        seconds, _, rows = intake(engine, lists, args.batch, tmp, quiet=True)
    finally:
        correlation_service.after_intake = saved  # type: ignore[assignment]
    # Large lists wait for the correlation job: the preload is not to be correlated.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE submission SET correlation = 'done' WHERE correlation = 'pending'")
        )
    if engine.dialect.name == "postgresql":
        # As autovacuum would after such a load (it had not yet when the tables were new).
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    if rows:
        print(f"  preload (correlation off): {bench_intake.rate(rows, seconds)}", flush=True)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class CpuShares:
    """CPU seconds used between `start()` and `stop()` by this process, by the processes it
    started (the enrichment's fork server and worker), by the database server's processes
    when it runs on this machine (PostgreSQL: every `postgres` process, the job's backend and
    the writers), and by the whole machine: what sizing needs, since on two cores the job's
    wall time is bounded below by the sum over all of them divided by two. Read from /proc; on
    a machine without it the figures are left out."""

    def __init__(self) -> None:
        self.available = Path("/proc/stat").exists()
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    @staticmethod
    def _processes() -> dict[int, tuple[int, str, float]]:
        """pid -> (parent pid, command name, CPU seconds) of every process."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            name = raw[raw.index("(") + 1 : raw.rindex(")")]
            fields = raw.rsplit(")", 1)[1].split()
            found[int(entry.name)] = (
                int(fields[1]),
                name,
                (int(fields[11]) + int(fields[12])) / _TICK,
            )
        return found

    def _read(self) -> dict[str, float]:
        processes = self._processes()
        mine = {os.getpid()}
        # Descendants: the fork server is this process's child, the workers are its children.
        grew = True
        while grew:
            before = len(mine)
            mine |= {pid for pid, (parent, _, _) in processes.items() if parent in mine}
            grew = len(mine) > before
        cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        # user, nice, system, idle, iowait, irq, softirq, steal (another guest's time)
        busy = sum(int(value) for value in cpu[:3] + cpu[5:7]) / _TICK
        idle = sum(int(value) for value in cpu[3:5] + cpu[7:8]) / _TICK
        return {
            "this process": time.process_time(),
            "its worker processes": sum(
                processes[pid][2] for pid in mine if pid != os.getpid() and pid in processes
            ),
            "database server": sum(
                used for _, name, used in processes.values() if name == "postgres"
            ),
            "machine busy": busy,
            "machine": busy + idle,
        }

    def start(self) -> None:
        if self.available:
            self._start = self._read()

    def stop(self) -> None:
        if self.available:
            end = self._read()
            self.used = {key: end[key] - self._start[key] for key in end}

    def line(self, engine: Engine) -> str:
        if not self.used:
            return ""
        shown = ["this process", "its worker processes"]
        if engine.dialect.name == "postgresql" and self.used["database server"] > 0:
            shown.append("database server")
        parts = [f"{key} {self.used[key]:.1f}" for key in shown]
        return (
            f"    CPU seconds in the job: {', '.join(parts)}; whole machine "
            f"{self.used['machine busy']:.1f} of {self.used['machine']:.1f} "
            f"({os.cpu_count()} cores)"
        )


def correlate_pending(
    engine: Engine, shares: CpuShares | None = None
) -> tuple[float, int, float, float]:
    """Run the correlation job until no submission waits; (seconds, submissions, seconds of
    it in enrichment, CPU seconds of this process in it). The machines are shared: the CPU
    time of the process (the job's Python and, on SQLite, the database engine) moves less with
    the load than the wall time."""

    from cyberfusion.correlation import jobs as correlation_jobs
    from cyberfusion.enrichment import service as enrichment_service

    enriching = [0.0]
    original = enrichment_service.enrich_observables

    def timed(**kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(**kwargs)
        finally:
            enriching[0] += time.perf_counter() - began

    enrichment_service.enrich_observables = timed  # type: ignore[assignment]

    @contextmanager
    def unit() -> Iterator[Session]:
        with Session(engine) as session:
            yield session
            session.commit()

    if shares is not None:
        shares.start()
    start = time.perf_counter()
    cpu = time.process_time()
    handled = 0
    try:
        while done := correlation_jobs.run_pending(unit_of_work=unit, limit=1):
            handled += done
    finally:
        enrichment_service.enrich_observables = original  # type: ignore[assignment]
        if shares is not None:
            shares.stop()
    return time.perf_counter() - start, handled, enriching[0], time.process_time() - cpu


def peer_inserts(engine: Engine, values: list[tuple[str, str]]) -> float:
    rows = [(hashlib.sha256(f"{t}\0{v}".encode()).hexdigest(), t, v) for t, v in values]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE bench_peer (id INTEGER PRIMARY KEY, digest VARCHAR(64) UNIQUE, "
            "obs_type VARCHAR(32), value TEXT)"
            if engine.dialect.name == "sqlite"
            else "CREATE TABLE bench_peer (id SERIAL PRIMARY KEY, digest VARCHAR(64) UNIQUE, "
            "obs_type VARCHAR(32), value TEXT)"
        )
    marker = "?" if engine.dialect.name == "sqlite" else "%s"
    start = time.perf_counter()
    with engine.begin() as conn:
        cursor = conn.connection.cursor()
        for offset in range(0, len(rows), 50_000):
            cursor.executemany(
                f"INSERT INTO bench_peer (digest, obs_type, value) VALUES ({marker}, {marker}, "  # noqa: S608
                f"{marker})",
                rows[offset : offset + 50_000],
            )
    return time.perf_counter() - start


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000

    p50 = statistics.median(ordered) * 1000
    return f"p50 {p50:7.2f} ms, p95 {at(0.95):7.2f} ms, p99 {at(0.99):7.2f} ms"


def lookups(engine: Engine, values: list[tuple[str, str]], count: int) -> None:
    from cyberfusion.correlation import graph as graph_service
    from cyberfusion.correlation import service as correlation_service
    from cyberfusion.observable import service as observable_service

    rng = random.Random(3)  # noqa: S311 - a sample, not a secret
    sample = [values[rng.randrange(len(values))] for _ in range(count)]
    times: list[float] = []
    related = 0
    graph_times: list[float] = []
    nodes = 0
    exact: list[float] = []
    with Session(engine) as session:
        actor = actor_for(session, email=HUB_USER)
        for obs_type, value in sample:
            start = time.perf_counter()
            found = observable_service.lookup(
                session=session, actor=actor, raw=value, obs_type=obs_type
            )
            exact.append(time.perf_counter() - start)
            assert found.occurrences, value
        session.commit()
        for obs_type, value in sample:
            start = time.perf_counter()
            result = correlation_service.correlate_value(
                session=session, actor=actor, raw=value, obs_type=obs_type
            )
            times.append(time.perf_counter() - start)
            related += len(result.related)
        session.commit()
        for obs_type, value in sample[:200]:
            result = correlation_service.correlate_value(
                session=session, actor=actor, raw=value, obs_type=obs_type
            )
            start = time.perf_counter()
            graph = graph_service.neighbourhood(
                session=session,
                actor=actor,
                around=f"observable:{result.observable_id}",
                depth=2,
                limit=500,
            )
            graph_times.append(time.perf_counter() - start)
            nodes += len(graph.nodes)
        session.rollback()
    print(f"  who else has X (observable.service.lookup), {count:,}: {percentiles(exact)}")
    print(f"  correlate_value (with related values), {count:,}: {percentiles(times)}")
    print(f"    related values returned per lookup: {related / count:.1f} on average")
    starts = len(graph_times)
    print(f"  graph depth 2 limit 500, {starts} starts: {percentiles(graph_times)}")
    print(f"    nodes per graph: {nodes / starts:.1f} on average")


def storage(engine: Engine) -> None:
    with engine.connect() as conn:
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
            for table in (
                "observable",
                "occurrence",
                "observable_link",
                "observable_assessment",
                "enrichment",
                "jurisdiction",
                "notification",
            )
        }
        pairwise = conn.execute(
            text(
                "SELECT coalesce(sum(c * (c - 1)), 0) FROM "
                "(SELECT count(*) AS c FROM occurrence GROUP BY observable_id) AS per"
            )
        ).scalar_one()
        if engine.dialect.name == "sqlite":
            size = conn.exec_driver_sql(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
            ).scalar_one()
        else:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    for table, count in counts.items():
        print(f"  {table:<22} {count:>12,} rows")
    print(f"  pairwise table would hold {int(pairwise):>12,} rows for the same reports")
    print(f"  database size            {size / 2**20:>12,.0f} MiB")
    print(
        f"  database bytes per occurrence (everything included): "
        f"{size / max(1, counts['occurrence']):,.0f}"
    )


def _snapshot_exists(kind: str, args: argparse.Namespace) -> bool:
    if kind == "sqlite":
        return (_SNAPSHOTS / f"{args.snapshot}.sqlite3").exists()
    admin = create_engine(make_url(args.pg_url))
    try:
        with admin.connect() as conn:
            return bool(
                conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": args.snapshot},
                ).scalar()
            )
    finally:
        admin.dispose()


def from_snapshot(kind: str, args: argparse.Namespace, tmp: Path) -> Any:
    """A copy of the snapshot `args.snapshot`, migrated to the current schema; removed
    afterwards (the snapshot stays)."""
    from cyberfusion.core.tables import import_all

    import_all()
    template = str(_SNAPSHOTS / f"{args.snapshot}.sqlite3") if kind == "sqlite" else args.snapshot
    return bench_intake.fresh_database(kind, args.pg_url, tmp, template=template)


# What every lookup and the job's reads go through: the observables and their occurrences,
# tables and indexes (the run prints how much that is).
_WORKING_SET = ("observable", "occurrence")


def prewarm(engine: Engine) -> None:
    """Read the working set into PostgreSQL's shared buffers (`pg_prewarm`), as a server that
    has been answering lookups holds it: a database just copied from its template starts
    with none of it cached, and each random probe of the 1.2 GB digest index would go to the
    disk."""
    began = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        relations = (
            conn.execute(
                text(
                    "SELECT c.oid::regclass::text FROM pg_class c "
                    "LEFT JOIN pg_index i ON i.indexrelid = c.oid "
                    "WHERE c.relname = ANY(:tables) "
                    "OR i.indrelid IN (SELECT oid FROM pg_class WHERE relname = ANY(:tables))"
                ),
                {"tables": list(_WORKING_SET)},
            )
            .scalars()
            .all()
        )
        pages = sum(
            conn.execute(
                text("SELECT pg_prewarm(CAST(:rel AS regclass))"), {"rel": rel}
            ).scalar_one()
            for rel in relations
        )
    print(
        f"  prewarmed {len(relations)} relations ({pages * 8 / 1024:,.0f} MiB) in "
        f"{time.perf_counter() - began:.1f} s",
        flush=True,
    )


def save_snapshot(kind: str, engine: Engine, args: argparse.Namespace) -> None:
    """Keep the preloaded database as `args.snapshot` for later runs."""
    began = time.perf_counter()
    if kind == "sqlite":
        _SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        target = _SNAPSHOTS / f"{args.snapshot}.sqlite3"
        # The last connection to close checkpoints the write-ahead log into the file.
        engine.dispose()
        assert engine.url.database is not None
        shutil.copyfile(engine.url.database, target)
    else:
        current = engine.url.database
        engine.dispose()
        admin = create_engine(make_url(args.pg_url), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{args.snapshot}" TEMPLATE "{current}"'))
        finally:
            admin.dispose()
    print(f"  saved snapshot {args.snapshot} in {time.perf_counter() - began:.1f} s", flush=True)


def run(kind: str, args: argparse.Namespace, tmp: Path) -> None:
    values = generate(args.observables)
    lists = assign(values, args.orgs, args.shared)
    print(f"\n== {kind}: {len(values):,} values, {sum(map(len, lists.values())):,} reports")
    if kind == "postgresql":
        admin = create_engine(make_url(args.pg_url))
        with admin.connect() as conn:
            settings = {
                setting: conn.exec_driver_sql(f"SHOW {setting}").scalar()
                for setting in ("shared_buffers", "work_mem", "max_wal_size", "synchronous_commit")
            }
        admin.dispose()
        print("  server: " + ", ".join(f"{key}={value}" for key, value in settings.items()))
    reuse = bool(args.snapshot) and _snapshot_exists(kind, args)
    opened = (
        from_snapshot(kind, args, tmp)
        if reuse
        else bench_intake.fresh_database(kind, args.pg_url, tmp)
    )
    began = time.perf_counter()
    with opened as engine:
        if reuse:
            print(
                f"  copied snapshot {args.snapshot} in {time.perf_counter() - began:.1f} s",
                flush=True,
            )
        if args.prewarm and kind == "postgresql":
            prewarm(engine)
        if args.preload and not reuse:
            preload(engine, args.preload, args, tmp)
            if args.snapshot:
                save_snapshot(kind, engine, args)
        seconds, inline, rows = intake(engine, lists, args.batch, tmp)
        # A server or worker loads the shipped data once when it starts (`cyberfusion serve`
        # does so ahead); it is not part of correlating a batch.
        from cyberfusion.enrichment import service as enrichment_service

        began = time.perf_counter()
        enrichment_service.warm_up()
        print(f"  shipped data loaded (once per process) in {time.perf_counter() - began:.2f} s")
        shares = CpuShares()
        job_seconds, job_runs, enriching, job_cpu = correlate_pending(engine, shares)
        peer = peer_inserts(engine, values)
        print(
            f"  intake (stored; {inline:.1f} s of it correlating inline): "
            f"{bench_intake.rate(rows, seconds)}"
        )
        print(
            f"  correlation job ({job_runs} large submissions): "
            f"{bench_intake.rate(rows, job_seconds) if job_runs else 'none pending'}"
        )
        if job_runs:
            print(
                f"    of which enrichment (flags, location, AS, names, jurisdiction) "
                f"{enriching:.1f} s, matching, links, corroboration and notices "
                f"{job_seconds - enriching:.1f} s; CPU time of this process in the job "
                f"{job_cpu:.1f} s"
            )
            if line := shares.line(engine):
                print(line)
        total = seconds + job_seconds
        print(f"  end to end, stored and correlated: {bench_intake.rate(rows, total)}")
        print(
            f"  peer raw executemany:    {bench_intake.rate(len(values), peer)}; "
            f"ratio peer/cyberfusion per row {(rows / total) / (len(values) / peer):.3f}"
        )
        lookups(engine, values, args.lookups)
        storage(engine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observables", type=int, default=200_000)
    parser.add_argument("--preload", type=int, default=0)
    parser.add_argument(
        "--maltrail",
        default="",
        help="preload the Maltrail trails from this archive first (../shared/data/...)",
    )
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--orgs", type=int, default=4)
    parser.add_argument("--shared", type=float, default=0.3)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=250_000)
    parser.add_argument("--pg-url", default=bench_intake.DEFAULT_PG)
    parser.add_argument(
        "--snapshot",
        default="",
        help="keep the preloaded database under this name and start later runs from a copy",
    )
    parser.add_argument(
        "--prewarm",
        action="store_true",
        help="PostgreSQL: read the observable and occurrence tables and indexes into the shared "
        "buffers before measuring (a copied snapshot starts cold)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        for kind in args.db.split(","):
            run(kind.strip(), args, Path(directory))


if __name__ == "__main__":
    main()
