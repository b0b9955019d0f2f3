"""Feeds in: set-up (create, read, update, delete), runs, schedules and back-off.

A run fetches the source and submits what it finds through intake, acting for the feed's
owner organisation, with the feed's labels and `partial=True`. Intake makes a re-run
harmless: the same content again is a replay that changes nothing, and objects the
organisation already holds count as duplicates.

- TAXII 2.1: the collection's objects added after the checkpoint, page by page (taxii2-client's
  `Collection` and `as_pages`); each page is one STIX bundle submission, and the checkpoint
  moves to the page's `X-TAXII-Date-Added-Last`.
- MISP feed: `manifest.json`, then `<uuid>.json` for each event whose manifest timestamp is
  newer than the one last imported; one submission per event.
- CSV or plain list: the file, rewritten through the feed's column mapping into our CSV
  (docs/formats.md, "CSV"); one submission. An unchanged file (HTTP 304) is not read again.

Each submission runs in its own savepoint: when a run fails half-way, what it stored stays
stored, the checkpoint records the last step that succeeded, and the run is marked failed
with the reason. A failure delays the next run by `min(BACKOFF_BASE * 2**(failures - 1),
BACKOFF_MAX)`; a success resets the count and the feed's interval applies again.
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import CursorResult, delete, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Permission, Role
from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.core.config import get_settings
from cyberfusion.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from cyberfusion.core.time import as_utc, utcnow
from cyberfusion.feed import fetch
from cyberfusion.feed.fetch import FetchFailed, FetchPolicy
from cyberfusion.feed.models import Feed, FeedRun
from cyberfusion.feed.schemas import (
    CsvMapping,
    FeedAuth,
    FeedCreate,
    FeedKind,
    FeedRead,
    FeedRunRead,
    FeedUpdate,
    RunStatus,
)
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.csv_format import COLUMNS
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions, SubmissionRead
from cyberfusion.registry.models import Organisation
from cyberfusion.sharing import service as sharing_service
from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=60)
BACKOFF_MAX = timedelta(hours=6)
# A claim older than this belongs to a worker that died; another may take the feed.
CLAIM_TIMEOUT = timedelta(hours=2)
# Rejection reasons kept per run (the submissions keep them all).
MAX_PROBLEMS = 20
TAXII_PAGE_SIZE = 500
# Fixed for ever: the bundle id of a TAXII page derives from it and the page's objects, so the
# same page fetched again is the same submission (a replay).
FEED_NAMESPACE = uuid.UUID("0b7f3f5e-4f0e-4d8b-a3a5-9d2e6c1f7a10")
_INLINE_COMMENT_MARKS = (" #", "\t#")


def backoff_delay(failures: int) -> timedelta:
    """How long after the `failures`-th failure in a row the feed is tried again."""
    if failures < 1:
        raise ValueError("back-off applies after at least one failure")
    if failures > 30:
        return BACKOFF_MAX
    return min(BACKOFF_BASE * (1 << (failures - 1)), BACKOFF_MAX)


# --------------------------------------------------------------------------- set-up


def _require_org(actor: Actor) -> int:
    actor.require(Permission.INTEL_OBJECT_SUBMIT)
    if actor.org_id is None:
        raise ValidationFailed("a feed belongs to an organisation", field="org")
    return actor.org_id


def _auth_json(auth: FeedAuth | None) -> dict[str, Any] | None:
    return None if auth is None else auth.model_dump(exclude_none=True)


def _max_bytes(requested: int | None) -> int:
    cap = get_settings().max_submission_bytes
    if requested is None:
        return cap
    if requested > cap:
        raise ValidationFailed(
            f"max_bytes {requested:,} is over the server's limit of {cap:,}", field="max_bytes"
        )
    return requested


def _check_labels(session: Session, org_id: int, labels: LabelsIn | None) -> None:
    if labels is None:
        return
    owner = session.get(Organisation, org_id)
    assert owner is not None
    sharing_service.normalise(session=session, owner=owner, labels_in=labels)


def _kind_settings(
    kind: FeedKind, csv_mapping: CsvMapping | None, evaluation: EvaluationIn
) -> dict[str, Any]:
    if csv_mapping is not None and kind != FeedKind.CSV:
        raise ValidationFailed(f"a {kind.value} feed has no column mapping", field="csv")
    settings: dict[str, Any] = {"evaluation": evaluation.model_dump(mode="json")}
    if kind == FeedKind.CSV:
        settings["csv"] = (csv_mapping or CsvMapping()).model_dump(mode="json")
    return settings


def create(*, session: Session, actor: Actor, feed_in: FeedCreate, trusted: bool = False) -> Feed:
    """A feed of the actor's organisation, due at once. `trusted` (the local operator only)
    lets it read local files and reach private addresses."""
    org_id = _require_org(actor)
    if session.scalars(select(Feed.id).where(Feed.name == feed_in.name)).first() is not None:
        raise Conflict(f"a feed named {feed_in.name!r} exists already", field="name")
    fetch.check_source(feed_in.source, trusted=trusted)
    if feed_in.added_after is not None and feed_in.kind != FeedKind.TAXII:
        raise ValidationFailed("added_after is for TAXII feeds", field="added_after")
    _check_labels(session, org_id, feed_in.labels)
    checkpoint: dict[str, Any] = {}
    if feed_in.added_after is not None:
        checkpoint["added_after"] = _taxii_time(feed_in.added_after)
    now = utcnow()
    feed = Feed(
        name=feed_in.name,
        kind=feed_in.kind.value,
        source=feed_in.source,
        owner_org_id=org_id,
        labels=None if feed_in.labels is None else feed_in.labels.model_dump(mode="json"),
        settings=_kind_settings(feed_in.kind, feed_in.csv, feed_in.evaluation),
        auth=_auth_json(feed_in.auth),
        interval_seconds=feed_in.interval_seconds,
        timeout_seconds=feed_in.timeout_seconds,
        max_bytes=_max_bytes(feed_in.max_bytes),
        enabled=feed_in.enabled,
        trusted=trusted,
        checkpoint=checkpoint,
        next_run_at=now,
        consecutive_failures=0,
        created_by=actor.label,
        created_at=now,
        updated_at=now,
    )
    session.add(feed)
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="feed.create",
        target_type="feed",
        target_id=feed.id,
        details={"name": feed.name, "kind": feed.kind, "source": feed.source, "trusted": trusted},
    )
    return feed


def _taxii_time(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def get_or_raise(*, session: Session, actor: Actor, feed_id: int) -> Feed:
    """A feed of the actor's organisation; any other is not found."""
    actor.require(Permission.INTEL_OBJECT_READ)
    feed = session.get(Feed, feed_id)
    if feed is None or feed.owner_org_id != actor.org_id:
        raise NotFound(f"no feed {feed_id}")
    return feed


def get_by_name_or_raise(*, session: Session, name: str) -> Feed:
    """For the local operator, who sees every organisation's feeds."""
    feed = session.scalars(select(Feed).where(Feed.name == name)).one_or_none()
    if feed is None:
        raise NotFound(f"no feed named {name!r}", field="name")
    return feed


def list_(*, session: Session, actor: Actor) -> Sequence[Feed]:
    actor.require(Permission.INTEL_OBJECT_READ)
    return session.scalars(
        select(Feed).where(Feed.owner_org_id == actor.org_id).order_by(Feed.name)
    ).all()


def list_all(*, session: Session) -> Sequence[Feed]:
    """Every organisation's feeds, for the local operator."""
    return session.scalars(select(Feed).order_by(Feed.name)).all()


def update(
    *, session: Session, actor: Actor, feed: Feed, feed_in: FeedUpdate, trusted: bool = False
) -> Feed:
    """Change the fields sent. A source set by an untrusted caller makes the feed untrusted."""
    org_id = _require_org(actor)
    if feed.owner_org_id != org_id:
        raise NotFound(f"no feed {feed.id}")
    sent = feed_in.model_fields_set
    kind = FeedKind(feed.kind)
    if "source" in sent and feed_in.source is not None and feed_in.source != feed.source:
        fetch.check_source(feed_in.source, trusted=trusted)
        feed.source = feed_in.source
        feed.trusted = trusted
        # Another source: what the old one had delivered says nothing about it.
        feed.checkpoint = {}
    if "labels" in sent:
        _check_labels(session, org_id, feed_in.labels)
        feed.labels = None if feed_in.labels is None else feed_in.labels.model_dump(mode="json")
    if "csv" in sent or "evaluation" in sent:
        mapping = feed_in.csv if "csv" in sent else _csv_mapping(feed)
        evaluation = (
            feed_in.evaluation
            if "evaluation" in sent and feed_in.evaluation is not None
            else _evaluation(feed)
        )
        feed.settings = _kind_settings(kind, mapping, evaluation)
    if "auth" in sent:
        feed.auth = _auth_json(feed_in.auth)
    for name in ("interval_seconds", "timeout_seconds", "enabled"):
        value = getattr(feed_in, name)
        if name in sent and value is not None:
            setattr(feed, name, value)
    if "max_bytes" in sent:
        feed.max_bytes = _max_bytes(feed_in.max_bytes)
    feed.updated_at = utcnow()
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="feed.update",
        target_type="feed",
        target_id=feed.id,
        details={"name": feed.name, "fields": sorted(sent)},
    )
    return feed


def delete_(*, session: Session, actor: Actor, feed: Feed) -> None:
    """Remove a feed and its run history; what it brought in stays."""
    org_id = _require_org(actor)
    if feed.owner_org_id != org_id:
        raise NotFound(f"no feed {feed.id}")
    feed_id, name = feed.id, feed.name
    session.execute(delete(FeedRun).where(FeedRun.feed_id == feed_id))
    session.delete(feed)
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="feed.delete",
        target_type="feed",
        target_id=feed_id,
        details={"name": name},
    )


def _csv_mapping(feed: Feed) -> CsvMapping | None:
    raw = feed.settings.get("csv")
    return None if raw is None else CsvMapping.model_validate(raw)


def _evaluation(feed: Feed) -> EvaluationIn:
    return EvaluationIn.model_validate(feed.settings.get("evaluation") or {})


def runs(*, session: Session, feed: Feed, limit: int = 20) -> Sequence[FeedRun]:
    """The feed's latest runs, newest first."""
    return session.scalars(
        select(FeedRun)
        .where(FeedRun.feed_id == feed.id)
        .order_by(FeedRun.started_at.desc(), FeedRun.id.desc())
        .limit(limit)
    ).all()


def run_to_read(feed: Feed, feed_run: FeedRun) -> FeedRunRead:
    return FeedRunRead(
        id=feed_run.id,
        feed=feed.name,
        trigger=feed_run.trigger,
        started_at=feed_run.started_at,
        finished_at=feed_run.finished_at,
        status=RunStatus(feed_run.status),
        accepted=feed_run.accepted,
        duplicates=feed_run.duplicates,
        rejected=feed_run.rejected,
        submissions=list(feed_run.details.get("submissions", [])),
        problems=list(feed_run.details.get("problems", [])),
        error=feed_run.error,
    )


def to_read(*, session: Session, feed: Feed) -> FeedRead:
    owner = session.get(Organisation, feed.owner_org_id)
    assert owner is not None
    latest = runs(session=session, feed=feed, limit=1)
    checkpoint = dict(feed.checkpoint)
    if "events" in checkpoint:
        checkpoint["events"] = len(checkpoint["events"])
    auth = None
    if feed.auth:
        auth = "token" if "token" in feed.auth else "basic"
    return FeedRead(
        id=feed.id,
        name=feed.name,
        kind=FeedKind(feed.kind),
        source=feed.source,
        owner=owner.slug,
        labels=None if feed.labels is None else LabelsIn.model_validate(feed.labels),
        evaluation=_evaluation(feed),
        csv=_csv_mapping(feed),
        auth=auth,
        interval_seconds=feed.interval_seconds,
        timeout_seconds=feed.timeout_seconds,
        max_bytes=feed.max_bytes,
        enabled=feed.enabled,
        trusted=feed.trusted,
        checkpoint=checkpoint,
        next_run_at=feed.next_run_at,
        consecutive_failures=feed.consecutive_failures,
        running=feed.claimed_at is not None,
        last_run=run_to_read(feed, latest[0]) if latest else None,
        created_by=feed.created_by,
        created_at=feed.created_at,
    )


# --------------------------------------------------------------------------- claiming


def _claimable(now: datetime, worker: str) -> Any:
    return or_(
        Feed.claimed_at.is_(None),
        Feed.claimed_at < now - CLAIM_TIMEOUT,
        Feed.claimed_by == worker,
    )


def claim_due(
    *,
    session: Session,
    worker: str,
    now: datetime,
    limit: int = 10,
    exclude: Collection[int] = (),
) -> list[int]:
    """Claim up to `limit` enabled feeds that are due, for `worker`; the caller commits.

    PostgreSQL: the candidates are locked with `FOR UPDATE SKIP LOCKED`, so workers claiming
    at the same moment never take the same feed and never wait on each other. SQLite has one
    writer at a time; each claim is an `UPDATE ... WHERE claimed_at IS NULL` (or a stale
    claim) that only one worker can win."""
    due = (
        select(Feed.id)
        .where(Feed.enabled.is_(True), Feed.next_run_at <= now, _claimable(now, worker))
        .where(Feed.id.not_in(sorted(exclude)))
        .order_by(Feed.next_run_at, Feed.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed: list[int] = []
    for feed_id in session.scalars(due).all():
        if _claim(session, feed_id=feed_id, worker=worker, now=now):
            claimed.append(feed_id)
    return claimed


def _claim(session: Session, *, feed_id: int, worker: str, now: datetime) -> bool:
    result = session.execute(
        sql_update(Feed)
        .where(Feed.id == feed_id, _claimable(now, worker))
        .values(claimed_at=now, claimed_by=worker)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    feed = session.get(Feed, feed_id)
    if feed is not None:
        # The UPDATE went around the identity map: read the claim back.
        session.refresh(feed, ["claimed_at", "claimed_by"])
    return result.rowcount == 1


# --------------------------------------------------------------------------- running


def owner_actor(org: Organisation) -> Actor:
    """Who a feed acts as: its owner organisation, with a contributor's permissions."""
    return Actor.for_organisation(org, roles=(Role.OFFICER.value,), via="feed")


def policy_for(feed: Feed) -> FetchPolicy:
    auth = feed.auth or {}
    headers = {"Authorization": f"Bearer {auth['token']}"} if "token" in auth else {}
    basic = (auth["username"], auth["password"]) if "username" in auth else None
    return FetchPolicy(
        timeout=float(feed.timeout_seconds),
        max_bytes=feed.max_bytes,
        trusted=feed.trusted,
        headers=headers,
        basic_auth=basic,
    )


@dataclass
class _Run:
    """One run in progress: counts so far, and the checkpoint of the last step that succeeded
    (written to the feed when the run ends, failed or not)."""

    session: Session
    feed: Feed
    actor: Actor
    options: SubmissionOptions
    checkpoint: dict[str, Any]
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    submissions: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    def submit(self, raw: bytes, fmt: SourceFormat, *, what: str) -> SubmissionRead | None:
        """Submit one piece; content intake cannot read at all counts as one rejection."""
        options = self.options.model_copy(update={"source_format": fmt})
        try:
            with self.session.begin_nested():
                result = intake_service.submit(
                    session=self.session, actor=self.actor, raw=raw, options=options
                )
        except ValidationFailed as exc:
            self.rejected += 1
            self.problem(f"{what}: {exc.detail}")
            return None
        self.submissions.append(result.id)
        if result.replayed:
            # Received before: nothing new was stored this time.
            self.duplicates += result.accepted + result.duplicates
        else:
            self.accepted += result.accepted
            self.duplicates += result.duplicates
        self.rejected += result.rejected
        for item in result.results:
            if item.status == "rejected":
                where = ", ".join(x for x in (item.source, item.id or "", item.property or "") if x)
                self.problem(f"{what}, {where}: {item.reason}")
        return result


def run(
    *,
    session: Session,
    feed: Feed,
    trigger: str,
    worker: str,
    now: datetime | None = None,
) -> FeedRun:
    """Run a feed now and record the run. Raises Conflict when another run holds it; a
    failure of the run itself is recorded (status failed, error), not raised."""
    started = now or utcnow()
    if not _claim(session, feed_id=feed.id, worker=worker, now=started):
        raise Conflict(
            f"feed {feed.name!r} is running (claimed by {feed.claimed_by} at "
            f"{feed.claimed_at.isoformat() if feed.claimed_at else 'an unknown time'})"
        )
    feed_run = FeedRun(
        feed_id=feed.id,
        trigger=trigger,
        started_at=started,
        status=RunStatus.RUNNING.value,
        details={},
    )
    session.add(feed_run)
    session.flush()
    org = session.get(Organisation, feed.owner_org_id)
    assert org is not None
    labels = None if feed.labels is None else LabelsIn.model_validate(feed.labels)
    state = _Run(
        session=session,
        feed=feed,
        actor=owner_actor(org),
        options=SubmissionOptions(labels=labels, evaluation=_evaluation(feed), partial=True),
        checkpoint=dict(feed.checkpoint),
    )
    error: str | None = None
    try:
        if not org.is_active:
            raise FetchFailed(f"the owner organisation {org.slug} is not active")
        _RUNNERS[FeedKind(feed.kind)](state)
    except (FetchFailed, DomainError) as exc:
        error = exc.detail if isinstance(exc, DomainError) else str(exc)
    except Exception as exc:
        # A bug must not stop the worker's other feeds; the traceback goes to the log.
        log.exception("feed %s: run failed", feed.name)
        error = f"internal error: {type(exc).__name__}: {exc}"
    return _finish(session, feed, feed_run, state, error=error)


def run_now(*, session: Session, actor: Actor, feed_id: int) -> FeedRun:
    """Run one of the actor's organisation's feeds at once (REST "run now")."""
    feed = get_or_raise(session=session, actor=actor, feed_id=feed_id)
    _require_org(actor)
    return run(session=session, feed=feed, trigger="api", worker=f"api:{uuid.uuid4().hex[:12]}")


def _finish(
    session: Session, feed: Feed, feed_run: FeedRun, state: _Run, *, error: str | None
) -> FeedRun:
    finished = utcnow()
    feed_run.finished_at = finished
    feed_run.status = (RunStatus.FAILED if error else RunStatus.SUCCEEDED).value
    feed_run.error = error
    feed_run.accepted = state.accepted
    feed_run.duplicates = state.duplicates
    feed_run.rejected = state.rejected
    feed_run.details = {"submissions": state.submissions, "problems": state.problems}
    feed.checkpoint = state.checkpoint
    if error:
        feed.consecutive_failures += 1
        feed.next_run_at = finished + backoff_delay(feed.consecutive_failures)
    else:
        feed.consecutive_failures = 0
        feed.next_run_at = finished + timedelta(seconds=feed.interval_seconds)
    feed.claimed_at = None
    feed.claimed_by = None
    session.flush()
    audit_service.record(
        session=session,
        actor=state.actor,
        action="feed.run",
        target_type="feed",
        target_id=feed.id,
        details={
            "name": feed.name,
            "run": feed_run.id,
            "trigger": feed_run.trigger,
            "status": feed_run.status,
            "accepted": state.accepted,
            "duplicates": state.duplicates,
            "rejected": state.rejected,
            "submissions": state.submissions,
            "error": error,
        },
    )
    return feed_run


# -- TAXII 2.1 -------------------------------------------------------------------------------


def _bundle(objects: list[Any]) -> bytes:
    """The page as a bundle whose id derives from its objects: the same page twice is the same
    bytes, which intake recognises as a replay."""
    body = orjson.dumps(objects, option=orjson.OPT_SORT_KEYS)
    bundle_id = f"bundle--{uuid.uuid5(FEED_NAMESPACE, body.decode())}"
    return b'{"type":"bundle","id":"' + bundle_id.encode() + b'","objects":' + body + b"}"


def _run_taxii(state: _Run) -> None:
    from taxii2client.v21 import Collection, as_pages  # type: ignore[import-untyped]

    connection = fetch.TaxiiConnection(policy_for(state.feed))
    try:
        collection = Collection(state.feed.source, conn=connection)
        filters: dict[str, Any] = {}
        if state.checkpoint.get("added_after"):
            filters["added_after"] = state.checkpoint["added_after"]
        for number, envelope in enumerate(
            as_pages(collection.get_objects, per_request=TAXII_PAGE_SIZE, **filters), start=1
        ):
            if not isinstance(envelope, dict):
                raise FetchFailed(f"page {number}: the envelope is not a JSON object")
            objects = envelope.get("objects", [])
            if not isinstance(objects, list):
                raise FetchFailed(f"page {number}: `objects` is not a list")
            if objects:
                state.submit(_bundle(objects), SourceFormat.STIX, what=f"page {number}")
            # Servers must send it (TAXII 2.1 §3.2); without it, the next run reads
            # from the same point again and intake finds the objects already there.
            last_added = connection.last_headers.get("X-TAXII-Date-Added-Last")
            if last_added:
                state.checkpoint["added_after"] = last_added
    finally:
        connection.close()


# -- MISP feed -------------------------------------------------------------------------------


def _manifest_entries(manifest: Any, *, state: _Run) -> list[tuple[int, str]]:
    """(timestamp, uuid) of every readable manifest entry, oldest first."""
    if not isinstance(manifest, dict):
        raise FetchFailed("manifest.json is not a JSON object of events by uuid")
    entries: list[tuple[int, str]] = []
    for key, meta in manifest.items():
        try:
            event_uuid = str(uuid.UUID(str(key)))
        except ValueError:
            state.rejected += 1
            state.problem(f"manifest.json: {key!r} is not an event uuid")
            continue
        stamp = meta.get("timestamp") if isinstance(meta, dict) else None
        if isinstance(stamp, str) and stamp.isdigit():
            stamp = int(stamp)
        if not isinstance(stamp, int) or isinstance(stamp, bool):
            state.rejected += 1
            state.problem(f"manifest.json, event {event_uuid}: no timestamp (seconds)")
            continue
        entries.append((stamp, event_uuid))
    entries.sort()
    return entries


def _run_misp(state: _Run) -> None:
    policy = policy_for(state.feed)
    manifest = fetch.fetch_json(fetch.child(state.feed.source, "manifest.json"), policy=policy)
    seen: dict[str, int] = dict(state.checkpoint.get("events") or {})
    for stamp, event_uuid in _manifest_entries(manifest, state=state):
        if seen.get(event_uuid, -1) >= stamp:
            continue
        raw = fetch.fetch(fetch.child(state.feed.source, f"{event_uuid}.json"), policy=policy)
        state.submit(raw.content, SourceFormat.MISP, what=f"event {event_uuid}")
        # A rejected event is not fetched again until the feed publishes a newer version.
        seen[event_uuid] = stamp
        state.checkpoint["events"] = seen


# -- CSV and lists ---------------------------------------------------------------------------


@dataclass
class Rewritten:
    content: bytes
    rows: int
    skipped: list[str]


def _cut_comment(value: str) -> str:
    for mark in _INLINE_COMMENT_MARKS:
        if mark in value:
            value = value.split(mark, 1)[0]
    return value.strip()


def rewrite_csv(content: bytes, mapping: CsvMapping) -> Rewritten:
    """The source rewritten as our CSV (a value list when only values are mapped). Line N of
    the output is line N of the source wherever it can be, so intake's row numbers point at
    the source's lines; rows that lack a mapped column are left out and listed."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FetchFailed(f"the file is not UTF-8 (byte {exc.start})") from exc
    # Lines end at line feeds only, as intake counts them (not at form feeds or U+2028).
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and not lines[-1]:
        lines.pop()
    records = _source_records(lines, mapping)
    wanted = [
        name
        for name in COLUMNS
        if name in mapping.constants or mapping.columns.get(name) is not None
    ]
    out_lines = [""] * len(lines)
    skipped: list[str] = []
    # Without a header row, the columns are the mapping's indexes; with one, its titles.
    indexes = {name: where for name, where in mapping.columns.items() if isinstance(where, int)}
    header_at: int | None = None
    first_value: str | None = None
    rows = 0
    for line_number, cells in records:
        if mapping.header and header_at is None:
            header_at = line_number
            indexes = _header_indexes(cells, mapping)
            continue
        row: dict[str, str] = dict(mapping.constants)
        missing = [
            f"{name} (column {where + 1})" for name, where in indexes.items() if where >= len(cells)
        ]
        if missing:
            skipped.append(
                f"line {line_number}: no {', '.join(missing)}; the line has {len(cells)}"
            )
            continue
        for name, where in indexes.items():
            row[name] = cells[where].strip()
        if mapping.delimiter is None or mapping.is_value_list:
            row["value"] = _cut_comment(row["value"])
        if not row["value"]:
            skipped.append(f"line {line_number}: the value is empty")
            continue
        rows += 1
        if mapping.is_value_list:
            first_value = first_value if first_value is not None else row["value"]
            out_lines[line_number - 1] = row["value"]
        else:
            out_lines[line_number - 1] = _csv_line([row.get(name, "") for name in wanted])
    # The first line names our columns when intake needs it: always for the documented CSV,
    # and for a list whose first value would read as a CSV row.
    header: str | None = None
    if not mapping.is_value_list:
        header = _csv_line(wanted)
    elif first_value is not None and any(mark in first_value for mark in ",;\t"):
        header = "value"
    if header is not None:
        if header_at == 1 or (out_lines and not out_lines[0]):
            out_lines[0] = header
        else:
            out_lines.insert(0, header)
    return Rewritten(("\n".join(out_lines) + "\n").encode(), rows, skipped)


def _source_records(lines: list[str], mapping: CsvMapping) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank, non-comment record of the source."""
    if mapping.delimiter is None:
        return [
            (number, [line.strip()])
            for number, line in enumerate(lines, start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    blanked = ["" if line.lstrip().startswith("#") else line for line in lines]
    reader = csv.reader(io.StringIO("\n".join(blanked)), delimiter=mapping.delimiter)
    records: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                records.append((reader.line_num, cells))
    except csv.Error as exc:
        raise FetchFailed(f"line {reader.line_num}: unreadable CSV ({exc})") from exc
    return records


def _header_indexes(cells: list[str], mapping: CsvMapping) -> dict[str, int]:
    titles = [cell.strip() for cell in cells]
    lowered = [title.lower() for title in titles]
    indexes: dict[str, int] = {}
    for name, where in mapping.columns.items():
        if where is None:
            continue
        if isinstance(where, int):
            indexes[name] = where
            continue
        if where.strip().lower() not in lowered:
            raise FetchFailed(
                f"the header has no column {where!r} (for {name}); it has "
                f"{', '.join(repr(t) for t in titles)}"
            )
        indexes[name] = lowered.index(where.strip().lower())
    return indexes


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


def _run_csv(state: _Run) -> None:
    mapping = _csv_mapping(state.feed) or CsvMapping()
    fetched = fetch.fetch(
        state.feed.source,
        policy=policy_for(state.feed),
        etag=state.checkpoint.get("etag"),
        last_modified=state.checkpoint.get("last_modified"),
    )
    if fetched.not_modified:
        return
    rewritten = rewrite_csv(fetched.content, mapping)
    state.rejected += len(rewritten.skipped)
    for reason in rewritten.skipped:
        state.problem(reason)
    if rewritten.rows:
        state.submit(rewritten.content, SourceFormat.CSV, what="list")
    for key, value in (("etag", fetched.etag), ("last_modified", fetched.last_modified)):
        if value:
            state.checkpoint[key] = value
        else:
            state.checkpoint.pop(key, None)


_RUNNERS: dict[FeedKind, Callable[[_Run], None]] = {
    FeedKind.TAXII: _run_taxii,
    FeedKind.MISP: _run_misp,
    FeedKind.CSV: _run_csv,
}
