"""Bulk intake: value lists streamed into one grouping and its occurrences, and the multi-row
writes of intelligence records.

A value list (one column of values, each value's type detected: a Maltrail trail file, a
blocklist) is not stored as one STIX indicator per line. The submission becomes ONE record, a
STIX `grouping` named after the submission and carrying its labels, and every accepted value
becomes an occurrence (observable -> that grouping). Correlation, lookup and the CSV and MISP
exports read occurrences, so they see every value; a STIX export can build one indicator per
occurrence of a list grouping (its content carries `x_cyberfusion_value_list: true`). Why: one
record per line would put 1.8 million STIX objects (each with eight indexes) in `intel_object`
for one Maltrail import, and that insert alone runs slower than the issue's 50,000 values/s.

How a list is read and stored:

- The input is read in blocks of `READ_BLOCK` bytes and handled `LIST_CHUNK_ROWS` rows at a
  time, so memory does not grow with the input (a 1 GB file stays far below 1 GB of memory).
  Per-row results are kept only for rejected rows (the first `LISTED_REJECTIONS` of them, then
  one line saying how many more there are); accepted and duplicate rows are counted.
- Lines are numbered as in an editor. Blank lines and lines starting with `#` are skipped; a
  `#` after white space starts a comment (`198.51.100.7  # scanner`, as Maltrail writes); a
  value in double quotes loses them; a one-word first row that is not a value (`ioc`,
  `indicator`) is a header.
- Each chunk is normalised (`observable_service.detect_value`), then written with one bulk
  statement per table (see `observable.service`): a row is accepted when its value gets a new
  occurrence, a duplicate when it repeats an earlier row of the list or the organisation
  already reported that value under the same labels, rejected when no type accepts it.
- Atomic by default: the grouping and its occurrences are written inside a SAVEPOINT; after
  the first rejected row nothing more is written (the rest is still read, to report every
  rejected row), and at the end the SAVEPOINT is rolled back. With `partial`, it is released
  (or rolled back when no row was accepted: a list of known values stores no grouping).
  Everything is one transaction on both databases; the adapter commits.
- SQLite: the page cache is raised to `SQLITE_CACHE_KIB` for the duration of a bulk intake
  (and put back after), as the digest index is written in random order.
- Python's cyclic garbage collector is paused while a submission is read and stored
  (`core.collector.paused`): the objects of a large submission are all alive until the end, and each
  automatic collection would walk them again.

Intelligence records (STIX bundles, MISP events, documented CSV, text) are inserted with one
`executemany` (SQLite) or `COPY` (PostgreSQL) per submission, their content serialised once
(canonical JSON, which also gives the content hash), and their ids read back by submission.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from cyberfusion.core.canonical import content_hash
from cyberfusion.core.errors import ValidationFailed
from cyberfusion.intake.models import Submission
from cyberfusion.intake.parsed import sco_id, stable_id, stix_timestamp
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable import service as observable_service
from cyberfusion.observable.types import ObservableType
from cyberfusion.registry.models import Organisation
from cyberfusion.sharing.models import SharingLabel
from cyberfusion.sharing.schemas import EvaluationIn

READ_BLOCK = 1 << 20
LIST_CHUNK_ROWS = 50_000
LISTED_REJECTIONS = 10_000
SQLITE_CACHE_KIB = 262_144
# The longest value quoted back in a rejection reason.
_SHOWN = 200

_TYPE_TEXT = {member: member.value for member in ObservableType}
_DELIMITERS = re.compile(r"[,;\t]")
_INLINE_COMMENT = re.compile(r"\s#")
_ONE_WORD_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_HEAD_LINES = 50

RECORD_COLUMNS = (
    "stix_id",
    "stix_type",
    "spec_version",
    "modified",
    "content",
    "content_hash",
    "owner_org_id",
    "label_id",
    "reliability",
    "credibility",
    "confidence",
    "status",
    "created_at",
    "submission_id",
    "submitted_by_user_id",
    "submitted_via",
    "source_format",
)
_MODIFIED = RECORD_COLUMNS.index("modified")
_CREATED_AT = RECORD_COLUMNS.index("created_at")
# Constant texts only; every value is bound.
_SQLITE_INSERT_RECORDS = (
    f"INSERT INTO intel_object ({', '.join(RECORD_COLUMNS)}) "  # noqa: S608
    f"VALUES ({','.join('?' * len(RECORD_COLUMNS))})"
)
_SQLITE_SELECT_RECORDS = "SELECT stix_id, modified, id FROM intel_object WHERE submission_id = ?"
_PG_COPY_RECORDS = f"COPY intel_object ({', '.join(RECORD_COLUMNS)}) FROM STDIN"
_PG_SELECT_RECORDS = "SELECT stix_id, modified, id FROM intel_object WHERE submission_id = %s"


# --------------------------------------------------------------------------- reading lists


def _meaningful(line: str) -> str:
    """The value on one line, or "" for a blank or comment line."""
    value = line.strip()
    if not value or value[0] == "#":
        return ""
    if "#" in value:
        comment = _INLINE_COMMENT.search(value)
        if comment is not None:
            value = value[: comment.start()].rstrip()
    if len(value) > 1 and value[0] == '"' and value[-1] == '"':
        value = value[1:-1].replace('""', '"').strip()
    return value


def is_value_list(head: bytes) -> bool:
    """Whether CSV content is one column of values: its first value line (comments and blank
    lines skipped) has no `,`, `;` or tab. Otherwise it is the documented CSV header."""
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    for line in text.splitlines()[:_HEAD_LINES]:
        value = _meaningful(line)
        if value:
            return _DELIMITERS.search(value) is None
    return False


def _decode(data: bytes, offset: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = offset + exc.start
        raise ValidationFailed(
            f"content is not valid UTF-8: byte {where} ({data[exc.start : exc.start + 1]!r})",
            field="content",
        ) from exc


def iter_list_rows(stream: BinaryIO) -> Iterator[tuple[int, str]]:
    """(line number, value) of every value line of a list, read block by block."""
    offset = 0
    number = 0
    pending = b""
    first_block = True
    header_seen = False
    while True:
        block = stream.read(READ_BLOCK)
        if block:
            data = pending + block
            # A line feed never occurs inside a UTF-8 multi-byte sequence: cutting there is safe.
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                pending = data
                continue
            data, pending = data[:cut], data[cut:]
        else:
            data, pending = pending, b""
            if not data:
                return
        text = _decode(data, offset)
        offset += len(data)
        if first_block:
            text = text.removeprefix("\ufeff")
            first_block = False
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        for line in lines:
            number += 1
            value = _meaningful(line)
            if not value:
                continue
            if not header_seen:
                header_seen = True
                if (
                    _ONE_WORD_HEADER.fullmatch(value) is not None
                    and observable_service.detect_value(value) is None
                ):
                    continue
            yield number, value
        if not block:
            return


def _undetected(value: str) -> str:
    shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
    return (
        f"{shown!r} is not an IP address, domain, URL, e-mail address, hash, CVE, wallet, "
        "phone number, IBAN or AS number"
    )


# --------------------------------------------------------------------------- storing lists


@dataclass
class ListOutcome:
    """What a value list gave: counts, the listed rejections and the grouping stored."""

    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    # (line number, reason) of the first LISTED_REJECTIONS rejected rows.
    rejections: list[tuple[int, str]] = field(default_factory=list)
    stored: bool = False
    record_id: int | None = None
    stix_id: str = ""


def list_grouping(*, submission: Submission, key: str, name: str | None) -> dict[str, Any]:
    """The STIX grouping that stands for a value list: one per submission."""
    stamp = stix_timestamp(submission.received_at)
    title = f"Value list, submission {submission.id}"
    return {
        "type": "grouping",
        "spec_version": "2.1",
        "id": stable_id("grouping", "value-list", key),
        "created": stamp,
        "modified": stamp,
        "name": f"{name} ({title.lower()})" if name else title,
        # No description: the CSV export repeats a record's description on each of its rows.
        "context": "unspecified",
        # The list itself, as the artifact its SHA-256 identifies (STIX 2.1 deterministic id).
        "object_refs": [sco_id("artifact", {"hashes": {"SHA-256": submission.content_sha256}})],
        "x_cyberfusion_value_list": True,
    }


def store_list(
    *,
    session: Session,
    stream: BinaryIO,
    submission: Submission,
    org: Organisation,
    label: SharingLabel,
    evaluation: EvaluationIn,
    status: str,
    partial: bool,
    grouping: dict[str, Any],
) -> ListOutcome:
    """Read a value list from `stream` and store its grouping and occurrences (see the module
    docstring for the rules). The caller has flushed `submission`."""
    outcome = ListOutcome(stix_id=str(grouping["id"]))
    savepoint = session.begin_nested()
    try:
        record = IntelObject(
            stix_id=grouping["id"],
            stix_type="grouping",
            spec_version="2.1",
            # As the content says it: STIX timestamps carry milliseconds, and TAXII's
            # match[version] compares the stored value with the one clients read.
            modified=submission.received_at.replace(
                microsecond=submission.received_at.microsecond // 1000 * 1000
            ),
            content=grouping,
            content_hash=content_hash(grouping),
            owner_org_id=org.id,
            label_id=label.id,
            reliability=evaluation.reliability.value,
            credibility=evaluation.credibility,
            confidence=evaluation.confidence,
            status=status,
            created_at=submission.received_at,
            submission_id=submission.id,
            submitted_by_user_id=submission.user_id,
            submitted_via=submission.via,
            source_format=submission.source_format,
        )
        session.add(record)
        session.flush()
        outcome.record_id = record.id
        chunk: list[tuple[int, str]] = []
        for row in iter_list_rows(stream):
            chunk.append(row)
            if len(chunk) >= LIST_CHUNK_ROWS:
                _store_chunk(session, chunk, outcome, record, submission, partial=partial)
                chunk = []
        _store_chunk(session, chunk, outcome, record, submission, partial=partial)
    except BaseException:
        savepoint.rollback()
        raise
    if outcome.accepted == 0 or (outcome.rejected and not partial):
        savepoint.rollback()
        outcome.record_id = None
        if outcome.rejected and not partial:
            # Refused as a whole: nothing of it is counted as stored or as already held.
            outcome.accepted = outcome.duplicates = 0
    else:
        savepoint.commit()
        outcome.stored = True
    return outcome


def _store_chunk(
    session: Session,
    chunk: Sequence[tuple[int, str]],
    outcome: ListOutcome,
    record: IntelObject,
    submission: Submission,
    *,
    partial: bool,
) -> None:
    outcome.rows += len(chunk)
    items: list[tuple[str, str, str]] = []
    detect_value = observable_service.detect_value
    sha256 = hashlib.sha256
    for number, value in chunk:
        found = detect_value(value)
        if found is None:
            outcome.rejected += 1
            if len(outcome.rejections) < LISTED_REJECTIONS:
                outcome.rejections.append((number, _undetected(value)))
            continue
        kind = _TYPE_TEXT[found[0]]
        normalised = found[1]
        # observable_service.digest, inlined: this loop runs once per row of the list.
        items.append((sha256(f"{kind}\0{normalised}".encode()).hexdigest(), kind, normalised))
    if outcome.rejected and not partial:
        # The submission will be refused: spare the database the rest.
        return
    stored = observable_service.record_list_occurrences(
        session=session,
        org_id=record.owner_org_id,
        label_id=record.label_id,
        record_id=record.id,
        submission_id=submission.id,
        reported_at=submission.received_at,
        items=items,
    )
    outcome.accepted += stored
    outcome.duplicates += len(items) - stored


# --------------------------------------------------------------------------- records


def canonical_text(content: dict[str, Any]) -> tuple[str, str]:
    """(canonical JSON text, content hash) of a STIX object, from one serialisation."""
    from cyberfusion.core.canonical import canonical_json

    data = canonical_json(content)
    return data.decode(), hashlib.sha256(data).hexdigest()


def insert_records(
    *, session: Session, submission_id: int, rows: Sequence[tuple[Any, ...]]
) -> list[int]:
    """Insert intelligence records given as tuples in RECORD_COLUMNS order (content as JSON
    text, datetimes aware) for one submission, which must have no records yet; their ids, in
    the order of `rows`."""
    if not rows:
        return []
    session.flush()
    dialect = session.get_bind().dialect
    cursor = session.connection().connection.cursor()
    try:
        if dialect.name == "postgresql":
            keys = [(row[0], row[_MODIFIED]) for row in rows]
            with cursor.copy(_PG_COPY_RECORDS) as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(_PG_SELECT_RECORDS, (submission_id,))
        else:
            column_type = IntelObject.__table__.c.modified.type
            process = column_type.dialect_impl(dialect).bind_processor(dialect)
            assert process is not None
            # Bundles share a few timestamps: convert each distinct one once.
            bound: dict[datetime, Any] = {}
            prepared = []
            keys = []
            for row in rows:
                values = list(row)
                for position in (_MODIFIED, _CREATED_AT):
                    stamp = values[position]
                    text = bound.get(stamp)
                    if text is None:
                        text = bound[stamp] = process(stamp)
                    values[position] = text
                keys.append((values[0], values[_MODIFIED]))
                prepared.append(values)
            cursor.executemany(_SQLITE_INSERT_RECORDS, prepared)
            # Read back as stored (the text written above), so the keys compare as written.
            cursor.execute(_SQLITE_SELECT_RECORDS, (submission_id,))
        stored = {
            (stix_id, modified): record_id for stix_id, modified, record_id in cursor.fetchall()
        }
    finally:
        cursor.close()
    return [stored[key] for key in keys]


@contextmanager
def tuned(session: Session) -> Iterator[None]:
    """Database settings for a bulk write, restored after: a larger SQLite page cache."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    connection = session.connection()
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")
