"""Observables: find them in STIX objects, store each once, record who reported it, look up."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.core.errors import ValidationFailed
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.observable.normalize import InvalidObservable, detect, normalise_typed
from cyberfusion.observable.types import ObservableType
from cyberfusion.sharing import service as sharing_service

_CHUNK = 500
_SCO_VALUE: dict[str, ObservableType] = {
    "ipv4-addr": ObservableType.IPV4,
    "ipv6-addr": ObservableType.IPV6,
    "domain-name": ObservableType.DOMAIN,
    "url": ObservableType.URL,
    "email-addr": ObservableType.EMAIL,
    "x-phone-number": ObservableType.PHONE,
}
_HASHES = {
    "MD5": ObservableType.MD5,
    "SHA-1": ObservableType.SHA1,
    "SHA1": ObservableType.SHA1,
    "SHA-256": ObservableType.SHA256,
    "SHA256": ObservableType.SHA256,
    "SHA-512": ObservableType.SHA512,
    "SHA512": ObservableType.SHA512,
}
_WALLETS = (ObservableType.BTC, ObservableType.ETH, ObservableType.XMR)


def digest(obs_type: str, value: str) -> str:
    return hashlib.sha256(f"{obs_type}\0{value}".encode()).hexdigest()


def _try(obs_type: ObservableType, raw: object) -> tuple[str, str] | None:
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        return None
    try:
        # IPv4-mapped IPv6 addresses come back as IPv4: the type can change.
        kind, value = normalise_typed(obs_type, str(raw))
    except InvalidObservable:
        return None
    return kind.value, value


def _from_sco(obj: dict[str, Any]) -> Iterator[tuple[str, str] | None]:
    kind = obj.get("type")
    if isinstance(kind, str) and kind in _SCO_VALUE:
        yield _try(_SCO_VALUE[kind], obj.get("value"))
    elif kind == "file" and isinstance(obj.get("hashes"), dict):
        for name, value in obj["hashes"].items():
            if name.upper() in _HASHES or name in _HASHES:
                yield _try(_HASHES.get(name, _HASHES.get(name.upper(), ObservableType.MD5)), value)
    elif kind == "x-cryptocurrency-wallet":
        yield next((hit for t in _WALLETS if (hit := _try(t, obj.get("value")))), None)
    elif kind == "x-bank-account":
        yield _try(ObservableType.IBAN, obj.get("iban"))
    elif kind == "autonomous-system":
        yield _try(ObservableType.ASN, obj.get("number"))
    elif kind == "vulnerability" and str(obj.get("name", "")).upper().startswith("CVE-"):
        yield _try(ObservableType.CVE, obj.get("name"))


def observables_of(content: dict[str, Any]) -> list[tuple[str, str]]:
    """The normalised (type, value) pairs an object states: an indicator's pattern comparisons,
    an SCO's value, the SCOs embedded in (STIX 2.0 style) observed-data. Values that do not
    normalise are left out: the object itself was valid STIX."""
    found: list[tuple[str, str] | None] = []
    if content.get("type") == "indicator" and content.get("pattern_type", "stix") == "stix":
        from cyberfusion.stix.patterns import observables_in

        pattern = content.get("pattern")
        if isinstance(pattern, str):
            for obs_type, raw in observables_in(pattern):
                if obs_type in _WALLETS:
                    found.append(next((h for t in _WALLETS if (h := _try(t, raw))), None))
                else:
                    found.append(_try(obs_type, raw))
    elif content.get("type") == "observed-data" and isinstance(content.get("objects"), dict):
        for embedded in content["objects"].values():
            if isinstance(embedded, dict):
                found.extend(_from_sco(embedded))
    else:
        found.extend(_from_sco(content))
    unique: dict[tuple[str, str], None] = {}
    for pair in found:
        if pair is not None:
            unique[pair] = None
    return list(unique)


def _insert_ignore(session: Session) -> Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(Observable).on_conflict_do_nothing(index_elements=["digest"])
    if dialect == "sqlite":
        return sqlite.insert(Observable).on_conflict_do_nothing(index_elements=["digest"])
    return insert(Observable)


def ensure(*, session: Session, pairs: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Observable ids by digest, creating the missing ones; safe against concurrent intake."""
    wanted = {digest(t, v): (t, v) for t, v in pairs}
    ids: dict[str, int] = {}
    keys = list(wanted)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        ids.update(
            (row.digest, row.id)
            for row in session.execute(
                select(Observable.digest, Observable.id).where(Observable.digest.in_(chunk))
            )
        )
        missing = [k for k in chunk if k not in ids]
        if missing:
            session.execute(
                _insert_ignore(session),
                [{"obs_type": wanted[k][0], "value": wanted[k][1], "digest": k} for k in missing],
            )
            ids.update(
                (row.digest, row.id)
                for row in session.execute(
                    select(Observable.digest, Observable.id).where(Observable.digest.in_(missing))
                )
            )
    return ids


def record_occurrences(
    *,
    session: Session,
    org_id: int,
    submission_id: int | None,
    reported_at: datetime,
    occurrences: Sequence[tuple[int, int, str, str]],
) -> int:
    """Store (record id, label id, type, value) reports; returns how many were stored."""
    ids = ensure(session=session, pairs=[(t, v) for _, _, t, v in occurrences])
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for record_id, label_id, obs_type, value in occurrences:
        observable_id = ids[digest(obs_type, value)]
        rows[(observable_id, record_id)] = {
            "observable_id": observable_id,
            "intel_object_id": record_id,
            "owner_org_id": org_id,
            "label_id": label_id,
            "submission_id": submission_id,
            "reported_at": reported_at,
        }
    values = list(rows.values())
    for start in range(0, len(values), _CHUNK * 4):
        session.execute(insert(Occurrence), values[start : start + _CHUNK * 4])
    return len(values)


@dataclass(frozen=True)
class LookupResult:
    obs_type: str
    value: str
    observable_id: int | None
    occurrences: list[Occurrence]
    hidden_match: bool


def parse_selector(raw: str, obs_type: str | None = None) -> tuple[str, str]:
    raw = raw.strip()
    if obs_type:
        try:
            kind = ObservableType(obs_type)
        except ValueError as exc:
            raise ValidationFailed(f"unknown observable type {obs_type!r}", field="type") from exc
        try:
            found_kind, value = normalise_typed(kind, raw)
        except InvalidObservable as exc:
            raise ValidationFailed(exc.reason, field="value") from exc
        return found_kind.value, value
    found = detect(raw)
    if found is None:
        raise ValidationFailed(
            f"{raw[:100]!r} is not a recognisable observable; pass type=... to say what it is",
            field="value",
        )
    return found[0].value, found[1]


def lookup(
    *, session: Session, actor: Actor, raw: str, obs_type: str | None = None
) -> LookupResult:
    """Who reported this value, as far as the actor may see; hit/no-hit for the rest."""
    actor.require(Permission.INTEL_OBJECT_READ)
    kind, value = parse_selector(raw, obs_type)
    observable = session.scalars(
        select(Observable).where(Observable.digest == digest(kind, value))
    ).one_or_none()
    if observable is None:
        return LookupResult(kind, value, None, [], False)
    if not actor.can(Permission.INTEL_SELECTOR_LOOKUP):
        readable = session.scalars(
            select(Occurrence)
            .where(
                Occurrence.observable_id == observable.id,
                sharing_service.readable_condition(actor, Occurrence),
            )
            .order_by(Occurrence.reported_at)
        ).all()
        return LookupResult(kind, value, observable.id, list(readable), False)
    hit = sharing_service.hit_check(
        session=session,
        actor=actor,
        model=Occurrence,
        condition=Occurrence.observable_id == observable.id,
        query_summary=f"{kind} {value}",
    )
    occurrences = sorted(hit.readable, key=lambda o: (o.reported_at, o.id))
    return LookupResult(kind, value, observable.id, occurrences, hit.hidden_match)
