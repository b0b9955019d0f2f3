"""Observables: find them in STIX objects, store each once, record who reported it, look up.

Intake sends observables by the hundred thousand, so writes are bulk writes on the session's
own connection (one transaction with the rest of the submission), one statement per table and
batch (`_Writer`):

- SQLite: the batch travels as one JSON array bound to one parameter and is unpacked by
  `json_each` inside SQLite (several times faster than binding rows one by one from Python).
  Observables go in with `INSERT ... SELECT ... ON CONFLICT (digest) DO NOTHING RETURNING`,
  in digest order so the unique index is written page after page.
- PostgreSQL: `COPY` into temporary staging tables (or straight into `occurrence`), then one
  `INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`.
- Either way the statement says which observables are new; the others are looked up by
  digest. Concurrent intake of the same value is safe: the unique digest decides, and the
  loser reads the winner's row. Occurrences of new records or new observables are plain
  inserts (nothing can conflict with them); a value list's occurrences of known observables
  skip, in SQL, those the organisation already reported under the same sharing label
  (`record_list_occurrences`).

`detect_value` and `normalise_value` return exactly what `normalize.detect` and
`normalize.normalise_typed` return, with short cuts for the shapes that fill threat lists
(dotted-quad IPv4, host names under TLDs without deeper public-suffix rules, URLs without a
scheme): a cut is taken only where the comments below show that no earlier rule of `detect`
can match, and the normaliser itself still decides every URL and every other host name.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import publicsuffixlist
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.core.errors import ValidationFailed
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.observable.normalize import (
    InvalidObservable,
    detect,
    normalise_refanged,
    normalise_typed,
    refang,
)
from cyberfusion.observable.types import STIX_MAPPING, ObservableType
from cyberfusion.sharing import service as sharing_service

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

# Raw SQL for the bulk writes. Only these constant texts are executed; every value is bound.
_OCCURRENCE_COLUMNS = (
    "observable_id, intel_object_id, owner_org_id, label_id, submission_id, reported_at"
)
# SQLite: a whole chunk travels as one JSON array bound to one parameter and is unpacked by
# json_each inside SQLite, which costs a fraction of binding the rows one by one. The unary plus
# keeps SQLite from scanning the organisation's index (every occurrence it ever reported)
# instead of probing the (observable, record) unique index; CROSS JOIN keeps the small JSON
# side as the outer loop.
_SQLITE_INSERT_OBSERVABLES = (
    "INSERT INTO observable (obs_type, value, digest, created_at) "
    "SELECT json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
    "json_extract(value, '$[0]'), ? FROM json_each(?) WHERE true "
    "ON CONFLICT (digest) DO NOTHING RETURNING id, digest"
)
_SQLITE_SELECT_OBSERVABLES = (
    "SELECT o.id, o.digest FROM json_each(?) AS j CROSS JOIN observable AS o ON o.digest = j.value"
)
_SQLITE_INSERT_OCCURRENCES = (
    f"INSERT INTO occurrence ({_OCCURRENCE_COLUMNS}) "  # noqa: S608
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?, "
    "json_extract(value, '$[2]'), ?, ? FROM json_each(?)"
)
_SQLITE_INSERT_RECORD_OCCURRENCES = (
    f"INSERT INTO occurrence ({_OCCURRENCE_COLUMNS}) "  # noqa: S608
    "SELECT value, ?, ?, ?, ?, ? FROM json_each(?)"
)
_SQLITE_INSERT_LIST_OCCURRENCES = (
    f"INSERT INTO occurrence ({_OCCURRENCE_COLUMNS}) "  # noqa: S608
    "SELECT j.value, ?, ?, ?, ?, ? FROM json_each(?) AS j WHERE NOT EXISTS "
    "(SELECT 1 FROM occurrence p WHERE p.observable_id = j.value AND +p.owner_org_id = ? "
    "AND +p.label_id = ? AND p.intel_object_id <> ?) "
    "ON CONFLICT (observable_id, intel_object_id) DO NOTHING"
)
# PostgreSQL: COPY into staging tables that live as long as the connection, their rows as long
# as the transaction (ON COMMIT DELETE ROWS); TRUNCATE clears what an earlier call of the same
# transaction left.
_PG_OBSERVABLE_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS cf_observable_stage "
    "(digest text, obs_type text, value text) ON COMMIT DELETE ROWS"
)
_PG_ID_STAGE = "CREATE TEMP TABLE IF NOT EXISTS cf_id_stage (id bigint) ON COMMIT DELETE ROWS"
_PG_INSERT_OBSERVABLES = (
    "INSERT INTO observable (obs_type, value, digest, created_at) "
    "SELECT obs_type, value, digest, %s::timestamptz FROM cf_observable_stage ORDER BY digest "
    "ON CONFLICT (digest) DO NOTHING RETURNING id, digest"
)
_PG_SELECT_OBSERVABLES = (
    "SELECT o.id, o.digest FROM cf_observable_stage s JOIN observable o ON o.digest = s.digest"
)
_PG_COPY_OCCURRENCES = f"COPY occurrence ({_OCCURRENCE_COLUMNS}) FROM STDIN"
_PG_INSERT_LIST_OCCURRENCES = (
    f"INSERT INTO occurrence ({_OCCURRENCE_COLUMNS}) "  # noqa: S608
    "SELECT s.id, %s::integer, %s::integer, %s::integer, %s::integer, %s::timestamptz "
    "FROM cf_id_stage s WHERE NOT EXISTS (SELECT 1 FROM occurrence p "
    "WHERE p.observable_id = s.id AND +p.owner_org_id = %s::integer "
    "AND +p.label_id = %s::integer AND p.intel_object_id <> %s::integer) "
    "ON CONFLICT (observable_id, intel_object_id) DO NOTHING"
)


def digest(obs_type: str, value: str) -> str:
    return hashlib.sha256(f"{obs_type}\0{value}".encode()).hexdigest()


# --------------------------------------------------------------------------- fast normalisation

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# A canonical dotted quad: no leading zeros, each octet 0-255 (exactly what _ipv4 accepts and
# returns unchanged).
_FAST_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
# A lower-case host name of valid ASCII labels (no underscore, no "xn--" checked apart) with an
# alphabetic TLD. No rule that `detect` tries before its domain rule can match such a string:
# URL and e-mail need "://" or "@", IPv4, ASN and phone numbers end in digits or carry no
# letters, IPv6 needs ":", hashes, CVE, IBAN and wallets have no dot, and the host/path URL
# rule needs "/", "?", "#" or ":". Refanging leaves it as it is (no bracket, backslash, ":",
# space or non-ASCII character).
_FAST_NAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63})")
# A URL that the URL normaliser returns as it is (with "/" for an empty path): lower-case
# http(s), a host as _FAST_NAME takes it, a path of unreserved characters only. No port, user,
# query, fragment, percent sign or anything refanging would touch (it needs ":", brackets, a
# backslash, spaces or non-ASCII characters).
_FAST_HTTP_URL = re.compile(
    r"(https?)://((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63}))(/[A-Za-z0-9._~/-]*)?"
)
# `detect`'s host/path (or host:port) URL rule, as written there.
_URLISH = re.compile(r"[^\s/:@]+\.[^\s/:@]+(?::\d+)?[/?#]\S*|[^\s/:@]+\.[^\s/:@]+:\d+")
_URL_HOST_END = re.compile(r"[/:?#]")
# Characters that can start a defang other than a scheme ("hxxp:"), or make a string something
# else than a schemeless URL.
_NOT_FAST_URL = re.compile(r"[\s@\[({\\]|://")
_HAS_LETTER = re.compile(r"[A-Za-z]")


@functools.cache
def _simple_tlds() -> frozenset[str]:
    """ASCII TLDs whose only rule in the ICANN section of the public suffix list is the TLD
    itself ("com", not "uk" or "jp"): every name of valid labels under them is registrable, and
    the domain normaliser returns it lower-cased, without a suffix lookup."""
    rules: dict[str, set[str]] = {}
    in_icann = False
    with open(publicsuffixlist.PSLFILE, encoding="utf-8") as handle:
        for line in handle:
            rule = line.strip()
            if rule == "// ===BEGIN ICANN DOMAINS===":
                in_icann = True
            elif rule == "// ===END ICANN DOMAINS===":
                break
            elif in_icann and rule and not rule.startswith("//"):
                text = rule.split()[0].lower()
                rules.setdefault(text.lstrip("!").rsplit(".", 1)[-1], set()).add(text)
    return frozenset(tld for tld, texts in rules.items() if texts == {tld} and tld.isascii())


def _fast_url(text: str) -> bool:
    """True when `detect` would hand `text` to the URL normaliser through its host/path rule.

    The host (up to the first "/", ":", "?" or "#") has a dot, so IPv6 (which needs ":" before
    any dot), hashes, IBAN and wallets cannot match; "@" and "://" are excluded, so e-mail and
    scheme URLs cannot; a letter in the host, or a ":" (which phone numbers, IPv4 and CIDR never
    contain here), rules out the numeric shapes.
    """
    if not text.isascii() or _NOT_FAST_URL.search(text) is not None:
        return False
    end = _URL_HOST_END.search(text)
    if end is None:
        return False
    host = text[: end.start()]
    if "." not in host:
        return False
    if ":" in text:
        # A ":" could end a defanged scheme ("evil.com/hxxp:..."): only when refanging changes
        # nothing is the text what the normaliser would see.
        if refang(text) != text:
            return False
    elif _HAS_LETTER.search(host) is None:
        return False
    return _URLISH.fullmatch(text) is not None


def detect_value(raw: str) -> tuple[ObservableType, str] | None:
    """The type and normalised value of one list entry: exactly `normalize.detect(raw)`."""
    text = raw.strip()
    if _FAST_IPV4.fullmatch(text) is not None:
        return ObservableType.IPV4, text
    if text.isascii():
        if text[:1] == "/":
            # A bare path: every rule of `detect` needs a host, a number or a word first.
            return None
        name = text.lower()
        match = _FAST_NAME.fullmatch(name)
        if match is not None:
            if match.group(1) in _simple_tlds() and len(name) <= 253 and "xn--" not in name:
                return ObservableType.DOMAIN, name
            # The domain rule is the last one: if the normaliser refuses, nothing matches.
            try:
                return normalise_refanged(ObservableType.DOMAIN, text)
            except InvalidObservable:
                return None
    if _fast_url(text):
        try:
            return normalise_refanged(ObservableType.URL, text)
        except InvalidObservable:
            pass  # the domain rule may still take it ("?" and "#" are allowed there)
    return detect(raw)


def normalise_value(obs_type: ObservableType, raw: str) -> tuple[ObservableType, str]:
    """Exactly `normalize.normalise_typed`, without the work for canonical IPv4 addresses, for
    host names under TLDs without deeper public-suffix rules, and for plain http(s) URLs on
    such names."""
    if obs_type is ObservableType.IPV4:
        if _FAST_IPV4.fullmatch(raw) is not None:
            return obs_type, raw
    elif obs_type is ObservableType.URL:
        match = _FAST_HTTP_URL.fullmatch(raw)
        if match is not None:
            scheme, host, tld, path = match.groups()
            if tld in _simple_tlds() and len(host) <= 253 and "xn--" not in host:
                return obs_type, f"{scheme}://{host}{path or '/'}"
    elif obs_type is ObservableType.DOMAIN and raw.isascii():
        name = raw.lower()
        match = _FAST_NAME.fullmatch(name)
        if (
            match is not None
            and match.group(1) in _simple_tlds()
            and len(name) <= 253
            and "xn--" not in name
        ):
            return obs_type, name
    return normalise_typed(obs_type, raw)


# --------------------------------------------------------------------------- STIX content


def _try(obs_type: ObservableType, raw: object) -> tuple[str, str] | None:
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        return None
    try:
        # IPv4-mapped IPv6 addresses come back as IPv4: the type can change.
        kind, value = normalise_value(obs_type, str(raw))
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


def _single_value_paths() -> dict[str, ObservableType]:
    paths: dict[str, list[ObservableType]] = {}
    for obs_type, mapping in STIX_MAPPING.items():
        sco_type, _, path = mapping.object_path.partition(":")
        if path == "value":
            paths.setdefault(sco_type, []).append(obs_type)
    # Wallets share one path; the address shape picks the currency, as observables_in does.
    return {sco: types[0] for sco, types in paths.items() if len(types) == 1}


def _hash_paths() -> dict[str, ObservableType]:
    """Hash types by algorithm name as observables_in matches it (upper case, no hyphen)."""
    names: dict[str, ObservableType] = {}
    for obs_type, mapping in STIX_MAPPING.items():
        sco_type, _, path = mapping.object_path.partition(":")
        if sco_type == "file" and path.startswith("hashes."):
            name = path.removeprefix("hashes.").strip("'")
            names[name.upper().replace("-", "")] = obs_type
    return names


_VALUE_PATHS = _single_value_paths()
_HASH_PATHS = _hash_paths()
# The patterns nearly every indicator carries: one `<type>:value = '<literal>'` or
# `file:hashes.<algorithm> = '<hex>'` comparison. Anything else goes through
# stix.patterns.observables_in, which reads the same pairs from them.
_ONE_COMPARISON = re.compile(r"\[([a-z0-9-]+):value = '((?:[^'\\]|\\['\\])*)'\]")
_ONE_HASH = re.compile(r"\[file:hashes\.(?:'([A-Za-z0-9-]+)'|([A-Za-z0-9]+)) = '([0-9A-Fa-f]+)'\]")
_UNESCAPE = re.compile(r"\\(['\\])")


def _pattern_observables(pattern: str) -> list[tuple[ObservableType, str]]:
    match = _ONE_COMPARISON.fullmatch(pattern)
    if match is not None:
        obs_type = _VALUE_PATHS.get(match.group(1))
        if obs_type is not None:
            literal = match.group(2)
            return [(obs_type, _UNESCAPE.sub(r"\1", literal) if "\\" in literal else literal)]
    else:
        match = _ONE_HASH.fullmatch(pattern)
        if match is not None:
            name = (match.group(1) or match.group(2)).upper().replace("-", "")
            obs_type = _HASH_PATHS.get(name)
            if obs_type is not None:
                return [(obs_type, match.group(3))]
    from cyberfusion.stix.patterns import observables_in

    return observables_in(pattern)


def observables_of(content: dict[str, Any]) -> list[tuple[str, str]]:
    """The normalised (type, value) pairs an object states: an indicator's pattern comparisons,
    an SCO's value, the SCOs embedded in (STIX 2.0 style) observed-data. Values that do not
    normalise are left out: the object itself was valid STIX."""
    found: list[tuple[str, str] | None] = []
    if content.get("type") == "indicator" and content.get("pattern_type", "stix") == "stix":
        pattern = content.get("pattern")
        if isinstance(pattern, str):
            for obs_type, raw in _pattern_observables(pattern):
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


# --------------------------------------------------------------------------- bulk writes


def _bound_time(session: Session, value: datetime) -> Any:
    """`value` as the driver receives it for our datetime columns (text on SQLite)."""
    dialect = session.get_bind().dialect
    column_type = Occurrence.__table__.c.reported_at.type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process is not None else value


class _Writer:
    """The bulk statements of one dialect, on the driver connection inside the session's
    transaction (pending ORM rows are flushed first)."""

    def __init__(self, session: Session) -> None:
        session.flush()
        self.postgresql = session.get_bind().dialect.name == "postgresql"
        if not self.postgresql:
            _check_sqlite()
        self.cursor = session.connection().connection.cursor()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cursor.close()

    def _copy(self, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
        with self.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def observables(
        self, items: Sequence[tuple[str, str, str]], stamp: Any
    ) -> tuple[dict[str, int], set[str]]:
        """Ids of (digest, type, value) items by digest, storing the missing ones, and the
        digests stored now. `items` are in digest order and do not repeat a digest."""
        ids: dict[str, int] = {}
        cursor = self.cursor
        if self.postgresql:
            cursor.execute(_PG_OBSERVABLE_STAGE)
            cursor.execute("TRUNCATE cf_observable_stage")
            self._copy("COPY cf_observable_stage (digest, obs_type, value) FROM STDIN", items)
            cursor.execute(_PG_INSERT_OBSERVABLES, (stamp,))
            ids.update((row_digest, row_id) for row_id, row_digest in cursor.fetchall())
            new = set(ids)
            if len(ids) < len(items):
                cursor.execute(_PG_SELECT_OBSERVABLES)
                ids.update((row_digest, row_id) for row_id, row_digest in cursor.fetchall())
            return ids, new
        cursor.execute(_SQLITE_INSERT_OBSERVABLES, (stamp, _json_text(items)))
        ids.update((row_digest, row_id) for row_id, row_digest in cursor.fetchall())
        new = set(ids)
        if len(ids) < len(items):
            missing = [item[0] for item in items if item[0] not in ids]
            cursor.execute(_SQLITE_SELECT_OBSERVABLES, (_json_text(missing),))
            ids.update((row_digest, row_id) for row_id, row_digest in cursor.fetchall())
        return ids, new

    def occurrences(
        self, rows: Sequence[tuple[int, int, int]], org_id: int, submission_id: Any, stamp: Any
    ) -> None:
        """Plain inserts of (observable, record, label) occurrences."""
        if not rows:
            return
        if self.postgresql:
            self._copy(
                _PG_COPY_OCCURRENCES,
                [(obs, rec, org_id, label, submission_id, stamp) for obs, rec, label in rows],
            )
        else:
            self.cursor.execute(
                _SQLITE_INSERT_OCCURRENCES, (org_id, submission_id, stamp, _json_text(rows))
            )

    def record_occurrences(
        self, observable_ids: Sequence[int], record: tuple[int, int, int, Any, Any]
    ) -> None:
        """Plain inserts of one record's occurrences; `record` is (record, org, label,
        submission, time)."""
        if not observable_ids:
            return
        if self.postgresql:
            self._copy(_PG_COPY_OCCURRENCES, [(obs, *record) for obs in observable_ids])
        else:
            self.cursor.execute(
                _SQLITE_INSERT_RECORD_OCCURRENCES, (*record, _json_text(observable_ids))
            )

    def list_occurrences(
        self, observable_ids: Sequence[int], record: tuple[int, int, int, Any, Any]
    ) -> int:
        """One record's occurrences of observables stored before, except those the record
        already has or its organisation reported under the same label; how many were stored."""
        record_id, org_id, label_id = record[0], record[1], record[2]
        if self.postgresql:
            self.cursor.execute(_PG_ID_STAGE)
            self.cursor.execute("TRUNCATE cf_id_stage")
            self._copy("COPY cf_id_stage (id) FROM STDIN", [(i,) for i in observable_ids])
            self.cursor.execute(_PG_INSERT_LIST_OCCURRENCES, (*record, org_id, label_id, record_id))
        else:
            self.cursor.execute(
                _SQLITE_INSERT_LIST_OCCURRENCES,
                (*record, _json_text(observable_ids), org_id, label_id, record_id),
            )
        return int(self.cursor.rowcount)


@functools.cache
def _check_sqlite() -> None:
    """The SQLite library must know RETURNING (3.35) and the JSON functions (built in since
    3.38, compiled in by most distributions before)."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(":memory:")) as probe:
            probe.execute("CREATE TABLE t (v INTEGER)")
            probe.execute("INSERT INTO t SELECT value FROM json_each('[1]') RETURNING v").fetchall()
    except sqlite3.Error as exc:
        raise RuntimeError(
            f"SQLite {sqlite3.sqlite_version} lacks RETURNING or the JSON functions, which "
            "bulk intake needs: use SQLite 3.38 or later (or PostgreSQL)"
        ) from exc


def _json_text(rows: Sequence[Any]) -> str:
    return orjson.dumps(rows).decode()


def ensure(*, session: Session, pairs: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Observable ids by digest, creating the missing ones; safe against concurrent intake."""
    from cyberfusion.core.time import utcnow

    items = sorted({(digest(t, v), t, v) for t, v in pairs})
    with _Writer(session) as writer:
        ids, _ = writer.observables(items, _bound_time(session, utcnow()))
    return ids


def record_occurrences(
    *,
    session: Session,
    org_id: int,
    submission_id: int | None,
    reported_at: datetime,
    occurrences: Sequence[tuple[int, int, str, str]],
) -> int:
    """Store (record id, label id, type, value) reports of records stored in this transaction;
    returns how many were stored (a pair repeated for one record counts once)."""
    if not occurrences:
        return 0
    wanted: dict[str, tuple[str, str, str]] = {}
    keyed: list[tuple[int, int, str]] = []
    for record_id, label_id, obs_type, value in occurrences:
        key = digest(obs_type, value)
        if key not in wanted:
            wanted[key] = (key, obs_type, value)
        keyed.append((record_id, label_id, key))
    stamp = _bound_time(session, reported_at)
    with _Writer(session) as writer:
        # In digest order the unique index is written page after page, not all over the place.
        ids, _ = writer.observables(sorted(wanted.values()), stamp)
        rows: dict[tuple[int, int], int] = {}
        for record_id, label_id, key in keyed:
            rows.setdefault((ids[key], record_id), label_id)
        writer.occurrences(
            [(obs, rec, label) for (obs, rec), label in rows.items()], org_id, submission_id, stamp
        )
    return len(rows)


def record_list_occurrences(
    *,
    session: Session,
    org_id: int,
    label_id: int,
    record_id: int,
    submission_id: int | None,
    reported_at: datetime,
    items: Sequence[tuple[str, str, str]],
) -> int:
    """Occurrences of one record (a value list) for (digest, type, value) items; returns how
    many were stored. An item is not stored again when the record already has it (a value
    repeated in the list) or when the organisation already reported it under the same label."""
    if not items:
        return 0
    unique = sorted({item[0]: item for item in items}.values())
    stamp = _bound_time(session, reported_at)
    record = (record_id, org_id, label_id, submission_id, stamp)
    with _Writer(session) as writer:
        ids, new = writer.observables(unique, stamp)
        # A new observable has no occurrence anywhere: nothing to check.
        fresh = sorted(ids[key] for key in new)
        writer.record_occurrences(fresh, record)
        known = sorted(ids[item[0]] for item in unique if item[0] not in new)
        stored = writer.list_occurrences(known, record) if known else 0
    return len(fresh) + stored


# --------------------------------------------------------------------------- lookup


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
    """Who reported this value, as far as the actor may see; hit/no-hit for the rest. With
    hit/no-hit rights every lookup is audited, whether the value is known or not."""
    actor.require(Permission.INTEL_OBJECT_READ)
    kind, value = parse_selector(raw, obs_type)
    # The value's id as a sub-select of the reports' query: one round trip fewer than reading
    # the observable first (a lookup is answered in a few milliseconds, round trips count).
    observable_id = (
        select(Observable.id).where(Observable.digest == digest(kind, value)).scalar_subquery()
    )
    reported = Occurrence.observable_id == observable_id
    if not actor.can(Permission.INTEL_SELECTOR_LOOKUP):
        readable = session.scalars(
            select(Occurrence)
            .where(reported, sharing_service.readable_condition(actor, Occurrence))
            .order_by(Occurrence.reported_at)
        ).all()
        # Without hit/no-hit rights, a value only others may read is not known to the actor.
        seen = readable[0].observable_id if readable else None
        return LookupResult(kind, value, seen, list(readable), False)
    hit = sharing_service.hit_check(
        session=session,
        actor=actor,
        model=Occurrence,
        condition=reported,
        query_summary=f"{kind} {value}",
        key=Occurrence.observable_id,
    )
    occurrences = sorted(hit.readable, key=lambda o: (o.reported_at, o.id))
    # A value nobody reported (the host of a reported URL, kept for correlation) is not a
    # known value.
    found_id: int | None = None
    if occurrences:
        found_id = occurrences[0].observable_id
    elif hit.hidden_keys:
        (found_id,) = hit.hidden_keys  # one value looked up: one key at most
    return LookupResult(kind, value, found_id, occurrences, hit.hidden_match)
