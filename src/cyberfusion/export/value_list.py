"""STIX for value lists: one indicator per listed value, generated from occurrences on the way out.

Intake stores a value list as ONE `grouping` record (`x_cyberfusion_value_list: true`) plus one
occurrence per value (intake/bulk.py); the indicators are never stored. Export and TAXII give
clients one `indicator` per readable occurrence of such a grouping, and the grouping's
`object_refs` name them:

- id: `indicator--<uuid5(VALUE_LIST_NAMESPACE, "<grouping id>\\x1f<type>\\x1f<value>")>`, the
  same on every read, on every server;
- `pattern` from the observable type's STIX mapping (observable/types.py, through
  `intake.parsed.indicator_pattern`), `name` the value, `valid_from` when the occurrence was
  reported, `created` and `modified` the grouping's `modified` (one version per list);
- `created_by_ref` and `object_marking_refs` as the grouping carries them when served (the
  export puts the record's current TLP there first), so the indicators travel under the same
  markings as their list.

Occurrences are read through `sharing_service.readable_condition`, like every read.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from cyberfusion.account.schemas import Actor
from cyberfusion.intake.parsed import indicator_pattern, stix_timestamp
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.observable.types import ObservableType
from cyberfusion.sharing import service as sharing_service

# Fixed for ever: the generated indicators' ids derive from it, and clients keep them.
VALUE_LIST_NAMESPACE = uuid.UUID("0b6f2d1e-7c4a-5e8b-9a3f-4d2c1b0e9f87")
_NAMESPACE_BYTES = VALUE_LIST_NAMESPACE.bytes
FLAG = "x_cyberfusion_value_list"
BATCH_SIZE = 5000


def is_value_list(content: dict[str, Any]) -> bool:
    """Whether a stored object is the grouping of a value list."""
    return content.get("type") == "grouping" and content.get(FLAG) is True


def value_list_condition(model: Any) -> ColumnElement[bool]:
    """SQL: the row is a value-list grouping."""
    return and_(model.stix_type == "grouping", model.content[FLAG].as_boolean().is_(True))


def indicator_id(grouping_id: str, obs_type: str, value: str) -> str:
    """`indicator--<uuid5(VALUE_LIST_NAMESPACE, "<grouping id>\\x1f<type>\\x1f<value>")>`.

    RFC 4122 §4.3 written out (SHA-1 of namespace and name, version and variant bits set):
    `uuid.uuid5` gives the same value, five times slower, and a list's grouping names every
    one of its indicators.
    """
    name = "\x1f".join((grouping_id, obs_type, value)).encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = digest.hex()
    return f"indicator--{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class Listed(NamedTuple):
    """One readable occurrence of a value-list grouping."""

    occurrence_id: int
    reported_at: datetime
    obs_type: str
    value: str


def listed(
    *,
    session: Session,
    actor: Actor,
    record_id: int,
    after: int = 0,
    limit: int | None = None,
) -> Iterator[Listed]:
    """The readable occurrences of one grouping record in occurrence-id order, from `after` on,
    at most `limit`, read in batches."""
    remaining = limit
    while remaining is None or remaining > 0:
        size = BATCH_SIZE if remaining is None else min(BATCH_SIZE, remaining)
        # Core rows, not ORM results: a list has up to millions of them.
        rows = (
            session.connection()
            .execute(
                select(Occurrence.id, Occurrence.reported_at, Observable.obs_type, Observable.value)
                .join(Observable, Observable.id == Occurrence.observable_id)
                .where(
                    Occurrence.intel_object_id == record_id,
                    Occurrence.id > after,
                    sharing_service.readable_condition(actor, Occurrence),
                )
                .order_by(Occurrence.id)
                .limit(size)
            )
            .all()
        )
        for row in rows:
            yield Listed(*row)
        if len(rows) < size:
            return
        after = rows[-1].id
        if remaining is not None:
            remaining -= len(rows)


def indicator(grouping: dict[str, Any], item: Listed) -> dict[str, Any] | None:
    """The indicator of one listed value, or None when its value has no pattern (stored values
    are normalised, so every one has; a value that does not is left out of the list's STIX
    rather than failing the whole read)."""
    try:
        pattern = indicator_pattern(ObservableType(item.obs_type), item.value)
    except ValueError:
        return None
    version = grouping.get("modified") or stix_timestamp(item.reported_at)
    content: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": indicator_id(str(grouping["id"]), item.obs_type, item.value),
        "created": version,
        "modified": version,
        "name": item.value,
        "description": f"Listed in {grouping.get('name') or grouping['id']}",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": stix_timestamp(item.reported_at),
    }
    for name in ("created_by_ref", "object_marking_refs"):
        if name in grouping:
            content[name] = grouping[name]
    return content


def indicators(grouping: dict[str, Any], items: Iterable[Listed]) -> Iterator[dict[str, Any]]:
    for item in items:
        made = indicator(grouping, item)
        if made is not None:
            yield made


def grouping_chunks(grouping: dict[str, Any], ids: Iterable[str]) -> Iterator[bytes]:
    """The grouping as JSON bytes, in chunks, its `object_refs` followed by `ids`: a list of a
    million values never sits in memory as one list of ids."""
    refs = grouping.get("object_refs")
    head = {key: value for key, value in grouping.items() if key != "object_refs"}
    yield orjson.dumps(head)[:-1] + b',"object_refs":['
    separator = b""
    if isinstance(refs, list) and refs:
        yield b",".join(orjson.dumps(ref) for ref in refs)
        separator = b","
    batch: list[bytes] = []
    for stix_id in ids:
        batch.append(orjson.dumps(stix_id))
        if len(batch) >= BATCH_SIZE:
            yield separator + b",".join(batch)
            separator = b","
            batch = []
    if batch:
        yield separator + b",".join(batch)
    yield b"]}"


def generated_ids(
    *, session: Session, actor: Actor, grouping: dict[str, Any], record_id: int
) -> Iterator[str]:
    """The ids of the indicators a grouping's readable occurrences give, in occurrence order:
    those `indicator` makes, without building them."""
    grouping_id = str(grouping["id"])
    for item in listed(session=session, actor=actor, record_id=record_id):
        try:
            indicator_pattern(ObservableType(item.obs_type), item.value)
        except ValueError:
            continue
        yield indicator_id(grouping_id, item.obs_type, item.value)
