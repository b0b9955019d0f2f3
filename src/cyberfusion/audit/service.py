"""Append to and verify the audit hash chain."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from cyberfusion.account.schemas import Actor
from cyberfusion.audit.models import AuditEntry, AuditHead
from cyberfusion.core.canonical import canonical_json, sha256_hex
from cyberfusion.core.db import plain
from cyberfusion.core.time import as_utc, utcnow

GENESIS_HASH = "0" * 64


def entry_hash(entry: AuditEntry | Row[Any] | SimpleNamespace) -> str:
    """Hash over every field but `hash` itself, including the previous entry's hash."""
    return sha256_hex(
        canonical_json(
            {
                "seq": entry.seq,
                "at": as_utc(entry.at).isoformat(),
                "actor": entry.actor,
                "actor_user_id": entry.actor_user_id,
                "actor_org_id": entry.actor_org_id,
                "action": entry.action,
                "target_type": entry.target_type,
                "target_id": entry.target_id,
                "details": entry.details,
                "prev_hash": entry.prev_hash,
            }
        )
    )


# The statements of an append, built once: their values travel as parameters (building them
# with the values in costs a cache key computed anew each time).
_ENTRIES = cast(Table, AuditEntry.__table__)
_HEADS = cast(Table, AuditHead.__table__)
_LOCK_HEAD = select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.id == 1).with_for_update()
_INSERT_ENTRY = insert(_ENTRIES).values(
    {column.name: bindparam(f"entry_{column.name}", type_=column.type) for column in _ENTRIES.c}
)
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.id == 1)
    .values(
        seq=bindparam("head_seq", type_=_HEADS.c.seq.type),
        hash=bindparam("head_hash", type_=_HEADS.c.hash.type),
    )
)
_INSERT_HEAD = insert(_HEADS).values(
    id=1,
    seq=bindparam("head_seq", type_=_HEADS.c.seq.type),
    hash=bindparam("head_hash", type_=_HEADS.c.hash.type),
)
# PostgreSQL: the entry and the head's new state in one statement.
_APPEND = _MOVE_HEAD.add_cte(_INSERT_ENTRY.cte("appended"))


@dataclass(frozen=True)
class Appended:
    """The entry `record` appended: its place in the chain and its hash."""

    seq: int
    hash: str


def record(
    *,
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str | int,
    details: dict[str, Any] | None = None,
) -> Appended:
    """Append one entry in the caller's transaction, so it commits or rolls back with the change.

    Plain statements, not the ORM's unit of work: every selector lookup appends an entry, and
    its flush cost more than the lookup's own queries. The head is locked first (appends are
    serialised across processes); on PostgreSQL the entry and the head's update then go in one
    statement."""
    connection = plain(session)
    head = connection.execute(_LOCK_HEAD).one_or_none()
    seq, prev_hash = (head[0], head[1]) if head is not None else (0, GENESIS_HASH)
    entry = SimpleNamespace(
        seq=seq + 1,
        at=utcnow(),
        actor=actor.label,
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details or {},
        prev_hash=prev_hash,
    )
    entry.hash = entry_hash(entry)
    values = {f"entry_{name}": value for name, value in vars(entry).items()}
    values.update(head_seq=entry.seq, head_hash=entry.hash)
    if head is None:
        connection.execute(_INSERT_ENTRY, values)
        connection.execute(_INSERT_HEAD, values)
    elif connection.dialect.name == "postgresql":
        connection.execute(_APPEND, values)
    else:
        connection.execute(_INSERT_ENTRY, values)
        connection.execute(_MOVE_HEAD, values)
    return Appended(entry.seq, entry.hash)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int  # how many entries were checked
    bad_seq: int | None = None
    reason: str = ""
    first_seq: int = 1  # where the check began: above 1 when only the tail was checked


def _entries(session: Session, batch: int = 5000, after: int | None = None) -> Iterator[Row[Any]]:
    """Plain rows in sequence order, in batches: the log can be long, and ORM objects would
    fill the session's identity map."""
    columns = [c for c in AuditEntry.__table__.c]
    last = after
    while True:
        query = select(*columns).order_by(AuditEntry.seq).limit(batch)
        if last is not None:
            query = query.where(AuditEntry.seq > last)
        rows = session.execute(query).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify(*, session: Session, tail: int | None = None) -> VerifyResult:
    """Walk the chain from the first entry; name the first entry that does not fit.

    With `tail`, check only the last `tail` entries (and that they end at the head), starting
    from the stored hash of the entry before them: what a page can afford on every load when
    the log holds millions of entries. Only the whole walk proves the older entries intact."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    count = 0
    # Plain columns: an AuditHead object the session holds could be older than the row,
    # which `record` updates without the ORM.
    head = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
    ).one_or_none()
    if tail is not None and head is not None and head.seq > tail:
        expected_seq = head.seq - tail + 1
        before = session.execute(
            select(AuditEntry.hash).where(AuditEntry.seq == expected_seq - 1)
        ).scalar_one_or_none()
        if before is None:
            return VerifyResult(
                False, 0, expected_seq - 1, f"entry {expected_seq - 1} is missing", expected_seq
            )
        prev_hash = before
    first_seq = expected_seq
    for entry in _entries(session, after=expected_seq - 1 if expected_seq > 1 else None):
        if entry.seq != expected_seq:
            return VerifyResult(
                False, count, expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})"
            )
        if entry.prev_hash != prev_hash:
            return VerifyResult(
                False, count, entry.seq, f"entry {entry.seq} does not link to entry {entry.seq - 1}"
            )
        if entry_hash(entry) != entry.hash:
            return VerifyResult(
                False, count, entry.seq, f"entry {entry.seq} was altered (hash mismatch)"
            )
        prev_hash = entry.hash
        expected_seq += 1
        count += 1
    last_seq = expected_seq - 1
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if head_seq != last_seq or head_hash != prev_hash:
        if head_seq > last_seq:
            return VerifyResult(
                False,
                count,
                last_seq + 1,
                f"entries {last_seq + 1} to {head_seq} were deleted",
                first_seq,
            )
        return VerifyResult(
            False,
            count,
            head_seq + 1 if head_seq < last_seq else last_seq,
            f"the chain does not end where the head says (head at entry {head_seq})",
            first_seq,
        )
    return VerifyResult(True, count, first_seq=first_seq)
