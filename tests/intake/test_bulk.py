"""Bulk intake: value lists as one grouping with occurrences, streaming, and bulk record writes."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.core.canonical import content_hash
from cyberfusion.core.errors import ValidationFailed
from cyberfusion.intake import bulk
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.parsed import sco_id, stable_id
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions, SubmissionRead
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable import service as observable_service
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.observable.normalize import detect
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from cyberfusion.stix.validate import validate_object
from tests.factories import account as account_factory

MALTRAIL = Path(__file__).resolve().parents[3] / "shared" / "data" / "maltrail-static.tar.gz"

LIST = (
    b"# Copyright (c) 2014-2026 Maltrail developers\n"
    b"# Aliases: emotet, heodo\n"
    b"\n"
    b"evil-updates.example.com\n"
    b"198.51.100.23  # C2, seen 2026-11-02\n"
    b"hxxp://phish[.]example[.]net/login\n"
    b"/gate.php\n"
    b"EVIL-UPDATES.example.com\n"
    b'"203.0.113.9"\n'
)
REJECTION = (
    "'/gate.php' is not an IP address, domain, URL, e-mail address, hash, CVE, wallet, "
    "phone number, IBAN or AS number"
)


def _submit(
    session: Session,
    raw: bytes,
    *,
    org: str = "ncb-fr",
    partial: bool = False,
    labels: LabelsIn | None = None,
) -> SubmissionRead:
    return intake_service.submit(
        session=session,
        actor=account_factory.actor(session, org=org),
        raw=raw,
        options=SubmissionOptions(source_format=SourceFormat.CSV, partial=partial, labels=labels),
    )


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _values(session: Session, record_id: int) -> list[tuple[str, str]]:
    rows = session.execute(
        select(Observable.obs_type, Observable.value)
        .join(Occurrence, Occurrence.observable_id == Observable.id)
        .where(Occurrence.intel_object_id == record_id)
    )
    return sorted((obs_type, value) for obs_type, value in rows)


def test_a_list_becomes_one_grouping_with_an_occurrence_per_value(session: Session) -> None:
    result = _submit(
        session, LIST, partial=True, labels=LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)
    )
    assert (result.status, result.accepted, result.duplicates, result.rejected) == (
        "partial",
        4,
        1,
        1,
    )
    rejected, grouping = result.results
    assert (rejected.index, rejected.source, rejected.status, rejected.property) == (
        -1,
        "row 7",
        "rejected",
        "value",
    )
    assert rejected.reason == REJECTION
    assert (grouping.index, grouping.source, grouping.type, grouping.status) == (
        0,
        "list",
        "grouping",
        "accepted",
    )
    record = session.get(IntelObject, grouping.record_id)
    assert record is not None
    assert (record.stix_id, record.stix_type, record.source_format) == (
        grouping.id,
        "grouping",
        "csv",
    )
    assert (record.label.tlp, record.label.audience, record.submission_id) == (
        "green",
        "community",
        result.id,
    )
    assert record.content_hash == content_hash(record.content)
    assert validate_object(record.content, index=0) == []
    assert record.content["object_refs"] == [
        sco_id("artifact", {"hashes": {"SHA-256": result.content_sha256}})
    ]
    assert record.content["name"] == f"Value list, submission {result.id}"
    assert record.content["x_cyberfusion_value_list"] is True
    assert _values(session, record.id) == [
        ("domain-name", "evil-updates.example.com"),
        ("ipv4-addr", "198.51.100.23"),
        ("ipv4-addr", "203.0.113.9"),
        ("url", "http://phish.example.net/login"),
    ]
    occurrences = session.scalars(
        select(Occurrence).where(Occurrence.intel_object_id == record.id)
    ).all()
    assert {(o.owner_org_id, o.label_id, o.submission_id) for o in occurrences} == {
        (record.owner_org_id, record.label_id, result.id)
    }
    assert {o.reported_at for o in occurrences} == {result.received_at}


def test_lookup_finds_a_listed_value(session: Session) -> None:
    result = _submit(session, LIST, partial=True)
    found = observable_service.lookup(
        session=session, actor=account_factory.actor(session), raw="phish.example.net/login"
    )
    assert (found.obs_type, found.value) == ("url", "http://phish.example.net/login")
    assert [o.intel_object_id for o in found.occurrences] == [result.results[-1].record_id]


def test_one_bad_row_refuses_the_list_and_stores_nothing(session: Session) -> None:
    before = (_count(session, IntelObject), _count(session, Occurrence))
    result = _submit(session, LIST)
    assert (result.status, result.accepted, result.duplicates, result.rejected) == (
        "rejected",
        0,
        0,
        1,
    )
    assert [(r.source, r.status) for r in result.results] == [
        ("row 7", "rejected"),
        ("list", "not stored"),
    ]
    assert result.results[1].record_id is None
    assert "partial=true" in (result.results[1].reason or "")
    assert (_count(session, IntelObject), _count(session, Occurrence)) == before


def test_resending_a_list_replays_the_answer_and_changes_nothing(session: Session) -> None:
    first = _submit(session, LIST, partial=True)
    counts = (
        _count(session, IntelObject),
        _count(session, Observable),
        _count(session, Occurrence),
    )
    again = _submit(session, LIST, partial=True)
    assert (again.replayed, again.id, again.results) == (True, first.id, first.results)
    assert (
        _count(session, IntelObject),
        _count(session, Observable),
        _count(session, Occurrence),
    ) == counts


def test_values_already_reported_under_the_same_labels_are_duplicates(session: Session) -> None:
    green = LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)
    _submit(session, b"a1.example.com\na2.example.com\n", labels=green)
    second = _submit(session, b"a2.example.com\na3.example.com\na3.example.com\n", labels=green)
    assert (second.accepted, second.duplicates, second.rejected) == (1, 2, 0)
    assert _values(session, second.results[-1].record_id or 0) == [
        ("domain-name", "a3.example.com")
    ]
    # Under other labels the value is news to those who may read it: stored again.
    amber = _submit(session, b"a2.example.com\n")
    assert (amber.accepted, amber.duplicates) == (1, 0)
    # Another organisation's report is its own.
    other = _submit(session, b"a1.example.com\n", org="ncb-ng", labels=green)
    assert (other.accepted, other.duplicates) == (1, 0)


def test_a_list_of_known_values_stores_no_grouping(session: Session) -> None:
    _submit(session, b"b1.example.com\n")
    before = _count(session, IntelObject)
    again = _submit(session, b"# the same again\nb1.example.com\n")
    assert (again.status, again.accepted, again.duplicates) == ("accepted", 0, 1)
    assert [(r.status, r.record_id) for r in again.results] == [("duplicate", None)]
    assert _count(session, IntelObject) == before


def test_a_one_word_header_quotes_bom_and_crlf(session: Session) -> None:
    raw = b'\xef\xbb\xbfindicator\r\n"c1.example.com"\r\n\r\nc2.example.com\t# note\r\n'
    result = _submit(session, raw)
    assert (result.accepted, result.rejected) == (2, 0)
    assert _values(session, result.results[-1].record_id or 0) == [
        ("domain-name", "c1.example.com"),
        ("domain-name", "c2.example.com"),
    ]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"# comment\n\n198.51.100.1\n", True),
        (b"ioc\nevil.example.com\n", True),
        (b"198.51.100.1  # scanner, port 22\n", True),
        (b"type,value\nipv4-addr,198.51.100.1\n", False),
        (b"value;comment\n", False),
        (b"# only comments\n", False),
    ],
)
def test_is_value_list(head: bytes, expected: bool) -> None:
    assert bulk.is_value_list(head) is expected


def test_a_maltrail_file_is_detected_as_a_list() -> None:
    raw = b"# Copyright (c) 2014-2026 Maltrail developers (https://github.com/stamparm)\n" + (
        b"# Reference: https://example.org/report, part 2\n\nevil.example.com\n1.2.3.4:443\n"
    )
    assert intake_service.detect_format(raw) is SourceFormat.CSV
    assert intake_service.detect_format(b"# Report\n\nThe actor used evil.com.\n") is (
        SourceFormat.TEXT
    )


def _rows(raw: bytes) -> list[tuple[int, str]]:
    return list(bulk.iter_list_rows(io.BytesIO(raw)))


def test_rows_are_numbered_as_lines_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = "# é\nd1.example.com\n\n  d2.exämple.com \nd3.example.com".encode()
    expected = [(2, "d1.example.com"), (4, "d2.exämple.com"), (5, "d3.example.com")]
    assert _rows(raw) == expected
    # Blocks smaller than a line, cut inside the two-byte "é" and "ä".
    monkeypatch.setattr(bulk, "READ_BLOCK", 3)
    assert _rows(raw) == expected


def test_bad_utf8_is_reported_at_its_byte_in_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = b"e1.example.com\ne2.example.com\ne3.\xffexample.com\n"
    monkeypatch.setattr(bulk, "READ_BLOCK", 8)
    with pytest.raises(ValidationFailed, match=r"not valid UTF-8: byte 33 \(b'\\xff'\)"):
        _rows(raw)


def test_small_chunks_give_the_same_answer_as_one(
    session: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lines = [f"f{n % 7}.example.org" for n in range(20)] + ["not a value", "198.51.100.9"]
    raw = ("\n".join(lines) + "\n").encode()
    whole = _submit(session, raw, partial=True)
    monkeypatch.setattr(bulk, "LIST_CHUNK_ROWS", 3)
    monkeypatch.setattr(bulk, "READ_BLOCK", 5)
    path = tmp_path / "list.txt"
    path.write_bytes(raw)
    chunked = intake_service.submit_file(
        session=session,
        actor=account_factory.actor(session, org="ncb-ng"),
        source=path,
        options=SubmissionOptions(source_format=SourceFormat.CSV, partial=True),
    )
    assert (whole.accepted, whole.duplicates, whole.rejected) == (8, 13, 1)
    assert (chunked.accepted, chunked.duplicates, chunked.rejected) == (8, 13, 1)
    assert [(r.source, r.reason) for r in chunked.results[:-1]] == [
        (r.source, r.reason) for r in whole.results[:-1]
    ]
    grouping = session.get(IntelObject, chunked.results[-1].record_id)
    assert grouping is not None
    assert grouping.content["name"] == f"list.txt (value list, submission {chunked.id})"
    assert _values(session, grouping.id) == _values(session, whole.results[-1].record_id or 0)


def test_submit_file_replays_what_submit_stored(session: Session, tmp_path: Path) -> None:
    first = _submit(session, LIST, partial=True)
    path = tmp_path / "trail.txt"
    path.write_bytes(LIST)
    again = intake_service.submit_file(
        session=session,
        actor=account_factory.actor(session),
        source=path,
        options=SubmissionOptions(source_format=SourceFormat.CSV, partial=True),
    )
    assert (again.replayed, again.id) == (True, first.id)


def test_submit_file_reads_other_formats_whole(session: Session) -> None:
    source = io.BytesIO(b"type,value\nipv4-addr,198.51.100.77\n")
    result = intake_service.submit_file(
        session=session,
        actor=account_factory.actor(session),
        source=source,
        options=SubmissionOptions(),
    )
    assert [(r.type, r.status) for r in result.results] == [("indicator", "accepted")]


def test_an_empty_file_is_refused(session: Session) -> None:
    with pytest.raises(ValidationFailed, match="empty"):
        intake_service.submit_file(
            session=session,
            actor=account_factory.actor(session),
            source=io.BytesIO(b" \n\n"),
            options=SubmissionOptions(),
        )


def test_rejections_beyond_the_limit_are_counted_not_listed(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "LISTED_REJECTIONS", 2)
    raw = b"g1.example.com\nbad one\nbad two\nbad three\nbad four\n"
    result = _submit(session, raw, partial=True)
    assert (result.accepted, result.rejected) == (1, 4)
    assert [(r.source, r.status) for r in result.results] == [
        ("row 2", "rejected"),
        ("row 3", "rejected"),
        ("rows after 3", "rejected"),
        ("list", "accepted"),
    ]
    assert result.results[2].reason == "2 more rejected rows are not listed (the first 2 are)"


def test_a_long_rejected_value_is_shortened_in_the_reason(session: Session) -> None:
    result = _submit(session, b"h1.example.com\n/" + b"x" * 300 + b"\n", partial=True)
    reason = result.results[0].reason or ""
    assert reason.startswith("'/" + "x" * 199 + "...' is not an IP address")


# -- objects -----------------------------------------------------------------------------------


def _bundle(count: int) -> bytes:
    import orjson

    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": stable_id("indicator", "bulk-test", str(n)),
            "created": "2026-03-01T10:00:00.000Z",
            "modified": f"2026-03-0{n % 3 + 1}T10:00:00.000Z",
            "name": f"host {n}",
            "pattern": f"[domain-name:value = 'k{n}.example.com']",
            "pattern_type": "stix",
            "valid_from": "2026-03-01T10:00:00Z",
        }
        for n in range(count)
    ]
    return orjson.dumps(
        {"type": "bundle", "id": stable_id("bundle", "bulk-test"), "objects": objects}
    )


def test_bundle_records_and_occurrences_match_their_objects(session: Session) -> None:
    import orjson

    raw = _bundle(6)
    objects = orjson.loads(raw)["objects"]
    result = intake_service.submit(
        session=session,
        actor=account_factory.actor(session),
        raw=raw,
        options=SubmissionOptions(source_format=SourceFormat.STIX),
    )
    assert result.accepted == 6
    for item, obj in zip(result.results, objects, strict=True):
        record = session.get(IntelObject, item.record_id)
        assert record is not None
        assert (record.stix_id, record.content, record.content_hash) == (
            obj["id"],
            obj,
            content_hash(obj),
        )
        # Stored as the ORM stores datetimes: an equality filter on the column finds it.
        assert session.scalars(
            select(IntelObject.id).where(
                IntelObject.stix_id == obj["id"], IntelObject.modified == record.modified
            )
        ).all() == [record.id]
        assert record.modified.isoformat() == obj["modified"].replace(".000Z", "+00:00")
        assert _values(session, record.id) == [("domain-name", obj["pattern"].split("'")[1])]
    assert (
        session.scalars(
            select(func.count())
            .select_from(Occurrence)
            .where(
                Occurrence.reported_at == result.received_at, Occurrence.submission_id == result.id
            )
        ).one()
        == 6
    )


def test_the_sqlite_cache_is_put_back_after_a_bulk_write(session: Session) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("a SQLite setting")
    connection = session.connection()
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    with bulk.tuned(session):
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -bulk.SQLITE_CACHE_KIB
    assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == before


@pytest.mark.skipif(not MALTRAIL.exists(), reason="the Maltrail test data is not present")
def test_a_real_maltrail_trail_file(session: Session) -> None:
    with tarfile.open(MALTRAIL, "r:gz") as archive:
        member = archive.getmember("trails/static/malware/apt_lazarus.txt")
        handle = archive.extractfile(member)
        assert handle is not None
        raw = handle.read()
    detected = [detect(value) for _, value in bulk.iter_list_rows(io.BytesIO(raw))]
    expected_rejected = sum(1 for hit in detected if hit is None)
    distinct = {hit for hit in detected if hit is not None}
    result = intake_service.submit(
        session=session,
        actor=account_factory.actor(session),
        raw=raw,
        options=SubmissionOptions(partial=True),
    )
    assert result.source_format == "csv"
    assert (result.accepted, result.rejected) == (len(distinct), expected_rejected)
    assert result.accepted + result.duplicates + result.rejected == len(detected)
    record_id = result.results[-1].record_id or 0
    assert set(_values(session, record_id)) == {(t.value, v) for t, v in distinct}


@pytest.mark.parametrize("chunk", [20_000, 2])
def test_a_bundle_sent_again_with_other_options_is_all_duplicates(
    session: Session, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # Other options make another submission (no replay): every object is looked up among what
    # the organisation holds, in chunks of ids (5 objects in chunks of 2: three queries).
    monkeypatch.setattr(intake_service, "_CHUNK", chunk)
    actor = account_factory.actor(session)
    raw = _bundle(5)
    first = intake_service.submit(
        session=session,
        actor=actor,
        raw=raw,
        options=SubmissionOptions(source_format=SourceFormat.STIX),
    )
    before = session.scalar(select(func.count()).select_from(IntelObject))
    again = intake_service.submit(
        session=session,
        actor=actor,
        raw=raw,
        options=SubmissionOptions(source_format=SourceFormat.STIX, partial=True),
    )
    assert (first.accepted, again.replayed, again.accepted, again.duplicates) == (5, False, 0, 5)
    assert [r.status for r in again.results] == ["duplicate"] * 5
    assert session.scalar(select(func.count()).select_from(IntelObject)) == before


def test_a_stored_version_sent_with_other_content_is_refused(session: Session) -> None:
    import orjson

    actor = account_factory.actor(session)
    intake_service.submit(
        session=session,
        actor=actor,
        raw=_bundle(2),
        options=SubmissionOptions(source_format=SourceFormat.STIX),
    )
    bundle = orjson.loads(_bundle(2))
    bundle["objects"][1]["name"] = "renamed without a new modified time"
    result = intake_service.submit(
        session=session,
        actor=actor,
        raw=orjson.dumps(bundle),
        options=SubmissionOptions(source_format=SourceFormat.STIX, partial=True),
    )
    changed = bundle["objects"][1]
    assert [(r.status, r.property, r.reason) for r in result.results] == [
        ("duplicate", None, None),
        (
            "rejected",
            "modified",
            f"{changed['id']} version 2026-03-02T10:00:00+00:00 is already stored with other "
            "content; a new version needs a new modified time",
        ),
    ]
