"""Feeds in: set-up, CSV/list, MISP feed and TAXII runs, checkpoints, re-runs, back-off."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from pymisp import MISPAttribute, MISPEvent, MISPOrganisation
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cyberfusion.core.time import utcnow
from cyberfusion.feed import service as feed_service
from cyberfusion.feed.models import Feed, FeedRun
from cyberfusion.feed.schemas import CsvMapping, FeedCreate, FeedUpdate
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.registry.models import Organisation
from cyberfusion.sharing.models import SharingLabel
from tests.factories import account
from tests.feed.conftest import FixtureServer, Medallion, make_feed

# -- helpers -----------------------------------------------------------------------------------


def _run(session: Session, feed: Feed, *, worker: str = "test") -> FeedRun:
    return feed_service.run(session=session, feed=feed, trigger="cli", worker=worker)


def _values_of(session: Session, org: str) -> set[tuple[str, str]]:
    """(type, value) of every observable `org` reported."""
    org_id = session.scalars(select(Organisation.id).where(Organisation.slug == org)).one()
    rows = session.execute(
        select(Observable.obs_type, Observable.value)
        .join(Occurrence, Occurrence.observable_id == Observable.id)
        .where(Occurrence.owner_org_id == org_id)
        .distinct()
    ).all()
    return {(t, v) for t, v in rows}


def _record_count(session: Session, org: str) -> int:
    org_id = session.scalars(select(Organisation.id).where(Organisation.slug == org)).one()
    return (
        session.scalar(select(func.count(IntelObject.id)).where(IntelObject.owner_org_id == org_id))
        or 0
    )


def _misp_event(uuid: str, timestamp: int, values: list[tuple[str, str]]) -> str:
    event = MISPEvent()
    event.uuid = uuid
    event.info = f"fixture event {uuid[:8]}"
    event.timestamp = timestamp
    event.date = "2026-10-01"
    orgc = MISPOrganisation()
    orgc.name = "fixture"
    orgc.uuid = "7b1d6b0e-0c3c-4f0a-9a51-4c6a4d0a8b21"
    event.Orgc = orgc
    for misp_type, value in values:
        attribute = MISPAttribute()
        attribute.from_dict(type=misp_type, value=value, to_ids=True, timestamp=timestamp)
        event.attributes.append(attribute)
    return event.to_json()


# -- set-up ------------------------------------------------------------------------------------


def test_create_feed_is_due_at_once_with_defaults(session: Session) -> None:
    feed = make_feed(session, name="list-one", kind="csv", source="https://feeds.example/l.txt")
    assert (feed.kind, feed.interval_seconds, feed.timeout_seconds) == ("csv", 3600, 60)
    assert feed.settings["csv"] == {
        "columns": {"value": 0},
        "delimiter": None,
        "header": False,
        "constants": {},
    }
    assert feed.next_run_at <= utcnow()
    read = feed_service.to_read(session=session, feed=feed)
    assert (read.owner, read.auth, read.last_run, read.running) == ("ncb-fr", None, None, False)


def test_create_refuses_a_taken_name(session: Session) -> None:
    make_feed(session, name="dup", kind="csv", source="https://feeds.example/a.txt")
    with pytest.raises(Conflict, match="a feed named 'dup' exists already"):
        make_feed(session, name="dup", kind="csv", source="https://feeds.example/b.txt")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("http://127.0.0.1:8080/x", "127.0.0.1 is not a public address"),
        ("http://10.1.2.3/x", "10.1.2.3 is not a public address"),
        ("http://[::1]/x", "::1 is not a public address"),
        ("http://localhost/x", "localhost: the local machine"),
        ("file:///etc/passwd", "feeds set up through the API fetch http:// or https:// URLs"),
        ("/srv/feeds/list.txt", "feeds set up through the API fetch http:// or https:// URLs"),
    ],
)
def test_untrusted_feeds_reach_public_http_only(
    session: Session, source: str, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=re.escape(message)) as caught:
        make_feed(session, trusted=False, name="bad", kind="csv", source=source)
    assert caught.value.field == "source"


def test_trusted_local_source_must_be_absolute(session: Session) -> None:
    with pytest.raises(ValidationFailed, match="must be an absolute path"):
        make_feed(session, name="rel", kind="csv", source="feeds/list.txt")


def test_create_checks_labels_and_kind_options(session: Session) -> None:
    with pytest.raises(ValidationFailed, match="TLP:RED needs an explicit list") as caught:
        make_feed(
            session,
            name="red",
            kind="csv",
            source="https://x.example/a",
            labels={"tlp": "red", "audience": "community"},
        )
    assert caught.value.field == "recipients"
    with pytest.raises(ValidationFailed, match="a misp feed has no column mapping"):
        make_feed(
            session,
            name="mm",
            kind="misp",
            source="https://x.example/",
            csv={"columns": {"value": 0}},
        )
    with pytest.raises(ValidationFailed, match="added_after is for TAXII feeds"):
        make_feed(
            session,
            name="cc",
            kind="csv",
            source="https://x.example/a",
            added_after="2026-01-01T00:00:00Z",
        )


def test_csv_mapping_validation() -> None:
    with pytest.raises(ValueError, match="'colour' is not one of our columns"):
        CsvMapping(columns={"value": 0, "colour": 1}, delimiter=",")
    with pytest.raises(ValueError, match="`value` must name the source column"):
        CsvMapping(columns={"type": 0})
    with pytest.raises(ValueError, match="a column named by its title needs header=true"):
        CsvMapping(columns={"value": "indicator"}, delimiter=",")
    with pytest.raises(ValueError, match="type: both a source column and a constant"):
        CsvMapping(columns={"value": 0, "type": 1}, delimiter=",", constants={"type": "url"})
    with pytest.raises(ValueError, match="type: a column after the first needs a delimiter"):
        CsvMapping(columns={"value": 0, "type": 1})
    assert CsvMapping(columns={"value": 2, "type": None}, delimiter=";").is_value_list is True
    assert CsvMapping(columns={"value": 0}, constants={"threat_type": "c2"}).is_value_list is False


def test_viewers_cannot_set_up_feeds(session: Session) -> None:
    viewer = account.actor(session, org="ncb-br", role=Role.VIEWER)
    with pytest.raises(PermissionDenied, match="intel:object:submit"):
        feed_service.create(
            session=session,
            actor=viewer,
            feed_in=FeedCreate(name="vv", kind="csv", source="https://x.example/a"),
        )


def test_other_organisations_do_not_see_a_feed(session: Session) -> None:
    feed = make_feed(session, name="mine", kind="csv", source="https://x.example/a")
    other = account.actor(session, org="ncb-ng")
    with pytest.raises(NotFound, match=f"no feed {feed.id}"):
        feed_service.get_or_raise(session=session, actor=other, feed_id=feed.id)
    assert [f.name for f in feed_service.list_(session=session, actor=other)] == []
    owner = account.actor(session, org="ncb-fr")
    assert [f.name for f in feed_service.list_(session=session, actor=owner)] == ["mine"]


def test_update_changes_sent_fields_and_untrusts_a_new_source(session: Session) -> None:
    feed = make_feed(
        session,
        name="upd",
        kind="csv",
        source="https://x.example/a",
        auth={"username": "u", "password": "p"},
    )
    assert (feed.trusted, feed_service.to_read(session=session, feed=feed).auth) == (True, "basic")
    feed.checkpoint = {"etag": '"abc"'}
    actor = account.actor(session, org="ncb-fr")
    feed_service.update(
        session=session,
        actor=actor,
        feed=feed,
        feed_in=FeedUpdate.model_validate(
            {"source": "https://y.example/b", "auth": None, "interval_seconds": 600}
        ),
    )
    assert (feed.source, feed.trusted, feed.auth, feed.interval_seconds, feed.checkpoint) == (
        "https://y.example/b",
        False,
        None,
        600,
        {},
    )
    with pytest.raises(ValidationFailed, match=r"10\.0\.0\.1 is not a public address"):
        feed_service.update(
            session=session,
            actor=actor,
            feed=feed,
            feed_in=FeedUpdate(source="http://10.0.0.1/list"),
        )


def test_delete_removes_the_feed_and_its_runs(session: Session, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("deleted-feed.example.com\n")
    feed = make_feed(session, name="gone", kind="csv", source=str(listing))
    _run(session, feed)
    feed_id = feed.id
    feed_service.delete_(session=session, actor=account.actor(session, org="ncb-fr"), feed=feed)
    assert session.get(Feed, feed_id) is None
    assert session.scalars(select(FeedRun).where(FeedRun.feed_id == feed_id)).all() == []
    # What it brought in stays.
    assert ("domain-name", "deleted-feed.example.com") in _values_of(session, "ncb-fr")


# -- CSV and lists -----------------------------------------------------------------------------

MALTRAIL_STYLE = """\
# Copyright (c) 2014-2026 Maltrail developers
# Reference: https://example.org/report

bad-one.example.com
bad-two.example.com # second stage
198.51.100.23
http://bad-three.example.com/gate.php
"""


def test_plain_list_by_url_then_rerun_adds_nothing(
    session: Session, fixture_server: FixtureServer
) -> None:
    fixture_server.write("trails.txt", MALTRAIL_STYLE)
    feed = make_feed(
        session,
        name="trails",
        kind="csv",
        source=fixture_server.url("trails.txt"),
        labels={"tlp": "green", "audience": "community"},
    )
    first = _run(session, feed)
    assert (first.status, first.error, first.accepted, first.duplicates, first.rejected) == (
        "succeeded",
        None,
        4,
        0,
        0,
    )
    expected = {
        ("domain-name", "bad-one.example.com"),
        ("domain-name", "bad-two.example.com"),
        ("ipv4-addr", "198.51.100.23"),
        ("url", "http://bad-three.example.com/gate.php"),
    }
    assert _values_of(session, "ncb-fr") >= expected
    label_ids = session.scalars(
        select(Occurrence.label_id).where(
            Occurrence.submission_id == first.details["submissions"][0]
        )
    ).all()
    labels = {
        (session.get(SharingLabel, i).tlp, session.get(SharingLabel, i).audience) for i in label_ids
    }  # type: ignore[union-attr]
    assert labels == {("green", "community")}
    assert feed.consecutive_failures == 0
    assert feed.next_run_at - first.finished_at == timedelta(seconds=3600)  # type: ignore[operator]
    # The server answers 304 (If-Modified-Since): nothing is read, nothing is stored.
    records = _record_count(session, "ncb-fr")
    second = _run(session, feed)
    assert (second.status, second.accepted, second.duplicates, second.details["submissions"]) == (
        "succeeded",
        0,
        0,
        [],
    )
    # Without the validators, the same bytes are a replay of the first submission.
    feed.checkpoint = {}
    third = _run(session, feed)
    assert (third.accepted, third.duplicates, third.details["submissions"]) == (
        0,
        4,
        first.details["submissions"],
    )
    assert _record_count(session, "ncb-fr") == records


def test_changed_list_adds_only_new_values(session: Session, tmp_path: Path) -> None:
    listing = tmp_path / "grows.txt"
    listing.write_text("grow-one.example.com\ngrow-two.example.com\n")
    feed = make_feed(session, name="grows", kind="csv", source=f"file://{listing}")
    assert _run(session, feed).accepted == 2
    listing.write_text("grow-one.example.com\ngrow-two.example.com\ngrow-three.example.com\n")
    second = _run(session, feed)
    assert (second.accepted, second.duplicates) == (1, 2)


def test_csv_with_header_mapping_and_constants(session: Session, tmp_path: Path) -> None:
    source = tmp_path / "feed.csv"
    source.write_text(
        "# exported by a partner\n"
        "first_seen;indicator;kind;score\n"
        "2026-10-01T08:00:00Z;203.0.113.77;ip;80\n"
        "2026-10-02T08:00:00Z;c2-mapped.example.com;domain;60\n"
        "2026-10-03T08:00:00Z\n"
        "2026-10-04T08:00:00Z;;domain;60\n"
    )
    feed = make_feed(
        session,
        name="mapped",
        kind="csv",
        source=str(source),
        csv={
            "columns": {"value": "indicator", "first_seen": 0, "confidence": "score"},
            "delimiter": ";",
            "header": True,
            "constants": {"threat_type": "c2"},
        },
    )
    result = _run(session, feed)
    assert (result.status, result.accepted, result.rejected) == ("succeeded", 2, 2)
    assert result.details["problems"] == [
        "line 5: no value (column 2), confidence (column 4); the line has 1",
        "line 6: the value is empty",
    ]
    records = session.scalars(
        select(IntelObject).where(IntelObject.submission_id == result.details["submissions"][0])
    ).all()
    contents = {r.content["pattern"]: r.content for r in records}
    ip = contents["[ipv4-addr:value = '203.0.113.77']"]
    assert (ip["valid_from"], ip["indicator_types"], ip["labels"], ip["confidence"]) == (
        "2026-10-01T08:00:00.000Z",
        ["malicious-activity"],
        ["c2"],
        80,
    )


def test_rewrite_keeps_source_line_numbers() -> None:
    mapping = CsvMapping(columns={"value": 1, "type": None}, delimiter=",")
    rewritten = feed_service.rewrite_csv(
        b"# header comment\nx,first.example.com\n\nx,not a value\n", mapping
    )
    assert rewritten.content == b"\nfirst.example.com\n\nnot a value\n"
    assert (rewritten.rows, rewritten.skipped) == (2, [])
    # A first value that would read as a CSV row gets a header line; line 1 was free.
    tricky = feed_service.rewrite_csv(
        b"# c\nhttp://a.example/x,y\n", CsvMapping(columns={"value": 0})
    )
    assert tricky.content == b"value\nhttp://a.example/x,y\n"
    objects = feed_service.rewrite_csv(
        b"1.2.3.4,c2\n", CsvMapping(columns={"value": 0, "threat_type": 1}, delimiter=",")
    )
    assert objects.content == b"value,threat_type\n1.2.3.4,c2\n"


def test_rejected_values_are_listed_as_problems(session: Session, tmp_path: Path) -> None:
    listing = tmp_path / "mixed.txt"
    listing.write_text("fine-value.example.com\nnot a value at all\n")
    feed = make_feed(session, name="mixed", kind="csv", source=str(listing))
    result = _run(session, feed)
    assert (result.status, result.accepted, result.rejected) == ("succeeded", 1, 1)
    assert result.details["problems"] == [
        "list, row 2, value: 'not a value at all' is not an IP address, domain, URL, e-mail "
        "address, hash, CVE, wallet, phone number, IBAN or AS number"
    ]


def test_content_that_is_not_utf8_fails_the_run(session: Session, tmp_path: Path) -> None:
    listing = tmp_path / "latin1.txt"
    listing.write_bytes("caf\xe9.example.com\n".encode("latin-1"))
    feed = make_feed(session, name="latin", kind="csv", source=str(listing))
    result = _run(session, feed)
    assert (result.status, result.error) == ("failed", "the file is not UTF-8 (byte 3)")


# -- failures and back-off ---------------------------------------------------------------------


def test_failures_back_off_exponentially_and_success_resets(
    session: Session, fixture_server: FixtureServer
) -> None:
    feed = make_feed(session, name="flaky", kind="csv", source=fixture_server.url("later.txt"))
    delays = []
    for _ in range(3):
        result = _run(session, feed)
        assert (result.status, result.error) == (
            "failed",
            f"{fixture_server.url('later.txt')}: HTTP 404 File not found",
        )
        delays.append(feed.next_run_at - result.finished_at)  # type: ignore[operator]
    assert delays == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=240)]
    assert feed.consecutive_failures == 3
    fixture_server.write("later.txt", "finally-there.example.com\n")
    result = _run(session, feed)
    assert (result.status, feed.consecutive_failures) == ("succeeded", 0)
    assert feed.next_run_at - result.finished_at == timedelta(seconds=3600)  # type: ignore[operator]
    read = feed_service.to_read(session=session, feed=feed)
    assert (read.last_run.status if read.last_run else None, read.running) == ("succeeded", False)


def test_backoff_is_capped() -> None:
    assert feed_service.backoff_delay(1) == timedelta(minutes=1)
    assert feed_service.backoff_delay(9) == timedelta(minutes=256)
    assert feed_service.backoff_delay(10) == timedelta(hours=6)
    assert feed_service.backoff_delay(500) == timedelta(hours=6)
    with pytest.raises(ValueError, match="after at least one failure"):
        feed_service.backoff_delay(0)


def test_size_limit_fails_the_run(session: Session, fixture_server: FixtureServer) -> None:
    fixture_server.write("big.txt", "x" * 2000)
    feed = make_feed(
        session, name="big", kind="csv", source=fixture_server.url("big.txt"), max_bytes=1000
    )
    result = _run(session, feed)
    assert (
        result.error
        == f"{fixture_server.url('big.txt')}: 2,000 bytes announced, over the limit of 1,000"
    )


def test_a_running_feed_cannot_be_run_twice(session: Session, tmp_path: Path) -> None:
    listing = tmp_path / "l.txt"
    listing.write_text("held.example.com\n")
    feed = make_feed(session, name="held", kind="csv", source=str(listing))
    now = utcnow()
    assert feed_service.claim_due(session=session, worker="w1", now=now) == [feed.id]
    with pytest.raises(Conflict, match="feed 'held' is running \\(claimed by w1 at "):
        _run(session, feed, worker="w2")
    # A claim older than the timeout belongs to a worker that died.
    later = now + feed_service.CLAIM_TIMEOUT + timedelta(seconds=1)
    assert (
        feed_service.run(
            session=session, feed=feed, trigger="schedule", worker="w2", now=later
        ).status
        == "succeeded"
    )
    assert (feed.claimed_at, feed.claimed_by) == (None, None)


def test_claim_due_takes_enabled_due_unclaimed_feeds(session: Session) -> None:
    due = make_feed(session, name="due", kind="csv", source="https://x.example/1")
    later = make_feed(session, name="later", kind="csv", source="https://x.example/2")
    off = make_feed(session, name="off", kind="csv", source="https://x.example/3", enabled=False)
    now = utcnow()
    later.next_run_at = now + timedelta(minutes=5)
    session.flush()
    assert off.enabled is False
    claimed = feed_service.claim_due(session=session, worker="w1", now=now, limit=50)
    assert due.id in claimed and later.id not in claimed and off.id not in claimed
    assert feed_service.claim_due(session=session, worker="w2", now=now, limit=50) == []
    assert (due.claimed_by, due.claimed_at) == ("w1", now)


# -- MISP feeds --------------------------------------------------------------------------------

EVENT_A = "5e2a1d3c-1f7b-4c9a-8d0e-2a6b4c8d0e1f"
EVENT_B = "6f3b2e4d-2a8c-4dab-9e1f-3b7c5d9e1f20"


def _misp_feed(root: Path, events: dict[str, tuple[int, list[tuple[str, str]]]]) -> None:
    manifest = {}
    for event_uuid, (timestamp, values) in events.items():
        (root / f"{event_uuid}.json").write_text(_misp_event(event_uuid, timestamp, values))
        manifest[event_uuid] = {"info": "x", "timestamp": str(timestamp), "Orgc": {"name": "f"}}
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_misp_feed_by_url_imports_new_and_changed_events_only(
    session: Session, fixture_server: FixtureServer
) -> None:
    _misp_feed(
        fixture_server.root,
        {
            EVENT_A: (1780000000, [("ip-dst", "198.51.100.81"), ("domain", "misp-a.example.com")]),
            EVENT_B: (1780000500, [("url", "http://misp-b.example.com/x")]),
        },
    )
    feed = make_feed(session, name="misp", kind="misp", source=fixture_server.base)
    first = _run(session, feed)
    assert (first.status, first.error, len(first.details["submissions"])) == ("succeeded", None, 2)
    assert feed.checkpoint["events"] == {EVENT_A: 1780000000, EVENT_B: 1780000500}
    assert {
        ("ipv4-addr", "198.51.100.81"),
        ("domain-name", "misp-a.example.com"),
        ("url", "http://misp-b.example.com/x"),
    } <= _values_of(session, "ncb-fr")
    # Unchanged manifest: no event is fetched.
    second = _run(session, feed)
    assert (second.accepted, second.duplicates, second.details["submissions"]) == (0, 0, [])
    # Event B changes (newer timestamp, one more attribute): only B is fetched again.
    _misp_feed(
        fixture_server.root,
        {
            EVENT_A: (1780000000, [("ip-dst", "198.51.100.81"), ("domain", "misp-a.example.com")]),
            EVENT_B: (
                1780009999,
                [("url", "http://misp-b.example.com/x"), ("sha256", "a" * 64)],
            ),
        },
    )
    third = _run(session, feed)
    assert len(third.details["submissions"]) == 1
    assert ("sha256", "a" * 64) in _values_of(session, "ncb-fr")
    assert feed.checkpoint["events"][EVENT_B] == 1780009999


def test_misp_feed_from_a_directory_records_bad_entries(session: Session, tmp_path: Path) -> None:
    feed_dir = tmp_path / "mispfeed"
    feed_dir.mkdir()
    _misp_feed(feed_dir, {EVENT_A: (1780000000, [("domain", "dir-feed.example.com")])})
    manifest = json.loads((feed_dir / "manifest.json").read_text())
    manifest["not-a-uuid"] = {"timestamp": "1"}
    manifest[EVENT_B] = {"info": "no timestamp"}
    (feed_dir / "manifest.json").write_text(json.dumps(manifest))
    feed = make_feed(session, name="mispdir", kind="misp", source=str(feed_dir))
    result = _run(session, feed)
    assert (result.status, result.rejected) == ("succeeded", 2)
    assert result.details["problems"] == [
        "manifest.json: 'not-a-uuid' is not an event uuid",
        f"manifest.json, event {EVENT_B}: no timestamp (seconds)",
    ]
    assert ("domain-name", "dir-feed.example.com") in _values_of(session, "ncb-fr")


def test_misp_feed_missing_event_file_fails_and_keeps_progress(
    session: Session, fixture_server: FixtureServer
) -> None:
    _misp_feed(
        fixture_server.root,
        {
            EVENT_A: (1780000000, [("domain", "kept-progress.example.com")]),
            EVENT_B: (1780000500, [("domain", "never-there.example.com")]),
        },
    )
    (fixture_server.root / f"{EVENT_B}.json").unlink()
    feed = make_feed(session, name="halfway", kind="misp", source=fixture_server.base + "/")
    result = _run(session, feed)
    # Event A's indicator and the report that stands for the event.
    assert (result.status, result.accepted) == ("failed", 2)
    assert result.error == f"{fixture_server.base}/{EVENT_B}.json: HTTP 404 File not found"
    assert feed.checkpoint["events"] == {EVENT_A: 1780000000}
    assert ("domain-name", "kept-progress.example.com") in _values_of(session, "ncb-fr")


def test_unreadable_misp_event_is_one_rejection(session: Session, tmp_path: Path) -> None:
    feed_dir = tmp_path / "broken"
    feed_dir.mkdir()
    (feed_dir / "manifest.json").write_text(json.dumps({EVENT_A: {"timestamp": 1780000000}}))
    (feed_dir / f"{EVENT_A}.json").write_text("{not json")
    feed = make_feed(session, name="broken", kind="misp", source=f"file://{feed_dir}")
    result = _run(session, feed)
    assert (result.status, result.rejected) == ("succeeded", 1)
    assert result.details["problems"] == [
        f"event {EVENT_A}: malformed JSON: unexpected character, expected a string key at "
        "line 1 column 2"
    ]


# -- TAXII -------------------------------------------------------------------------------------


def test_taxii_collection_pages_and_checkpoint(session: Session, medallion: Medallion) -> None:
    from taxii2client.v21 import Collection

    from tests.feed.conftest import MEDALLION_USER, indicator

    feed = make_feed(
        session,
        name="taxii",
        kind="taxii",
        source=medallion.collection_url,
        auth={"username": MEDALLION_USER[0], "password": MEDALLION_USER[1]},
    )
    first = _run(session, feed)
    # Three objects in pages of two: two submissions.
    assert (first.status, first.error, first.accepted, len(first.details["submissions"])) == (
        "succeeded",
        None,
        3,
        2,
    )
    assert feed.checkpoint == {"added_after": "2026-10-03T10:00:00.000Z"}
    assert {
        ("ipv4-addr", "198.51.100.61"),
        ("domain-name", "taxii-one.example.com"),
        ("url", "http://taxii-three.example.com/payload"),
    } <= _values_of(session, "ncb-fr")
    again = _run(session, feed)
    assert (again.status, again.accepted, again.details["submissions"]) == ("succeeded", 0, [])
    # An object added to the collection later is the only one fetched next time.
    collection = Collection(
        medallion.collection_url, user=MEDALLION_USER[0], password=MEDALLION_USER[1]
    )
    collection.add_objects(
        {"objects": [indicator("[domain-name:value = 'taxii-late.example.com']", 4)]}
    )
    late = _run(session, feed)
    assert (late.accepted, late.duplicates, len(late.details["submissions"])) == (1, 0, 1)
    assert feed.checkpoint["added_after"] > "2026-10-03T10:00:00.000Z"
    # Starting from scratch, everything is there already: duplicates only.
    feed.checkpoint = {}
    scratch = _run(session, feed)
    assert (scratch.accepted, scratch.duplicates) == (0, 4)


def test_taxii_starting_point_and_bad_credentials(session: Session, medallion: Medallion) -> None:
    from tests.feed.conftest import MEDALLION_USER

    feed = make_feed(
        session,
        name="taxii-late",
        kind="taxii",
        source=medallion.collection_url,
        auth={"username": MEDALLION_USER[0], "password": MEDALLION_USER[1]},
        added_after="2026-10-02T12:00:00Z",
    )
    assert feed.checkpoint == {"added_after": "2026-10-02T12:00:00.000000Z"}
    result = _run(session, feed)
    assert (result.status, result.accepted) == ("succeeded", 1)
    wrong = make_feed(
        session,
        name="taxii-wrong",
        kind="taxii",
        source=medallion.collection_url,
        auth={"username": MEDALLION_USER[0], "password": "wrong"},
    )
    failed = _run(session, wrong)
    assert (failed.status, failed.error) == (
        "failed",
        f"{medallion.collection_url}: HTTP 401 UNAUTHORIZED",
    )
    assert wrong.consecutive_failures == 1


def test_not_a_taxii_server_fails_clearly(session: Session, fixture_server: FixtureServer) -> None:
    fixture_server.write("collections/x/index.html", "<html></html>")
    feed = make_feed(
        session, name="notaxii", kind="taxii", source=fixture_server.url("collections/x/")
    )
    result = _run(session, feed)
    assert result.error == (
        f"{fixture_server.url('collections/x/')}: answered text/html, not application/taxii+json "
        "(is this a TAXII 2.1 collection URL?)"
    )


MALTRAIL = Path(__file__).resolve().parents[3] / "shared" / "data" / "maltrail-static.tar.gz"


@pytest.mark.skipif(
    not MALTRAIL.exists(),
    reason="the Maltrail trails (shared/data/maltrail-static.tar.gz) are CI data, absent here",
)
def test_a_real_maltrail_list_as_a_feed(session: Session, tmp_path: Path) -> None:
    import tarfile

    from cyberfusion.observable.normalize import detect

    with tarfile.open(MALTRAIL) as archive:
        member = archive.extractfile("trails/static/malware/dexter.txt")
        assert member is not None
        content = member.read()
    listing = tmp_path / "dexter.txt"
    listing.write_bytes(content)
    entries = [
        line.strip()
        for line in content.decode().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    detected = {found for entry in entries if (found := detect(entry)) is not None}
    feed = make_feed(session, name="maltrail-dexter", kind="csv", source=str(listing))
    result = _run(session, feed)
    assert (result.status, result.accepted, result.rejected) == (
        "succeeded",
        len(detected),
        len(entries) - len(detected),
    )
    # The bare paths Maltrail lists are not observables on their own.
    assert result.details["problems"][0].startswith(
        "list, row 6, value: '/images/logo/header.php' is not an IP address"
    )
    again = _run(session, feed)
    assert (again.accepted, again.duplicates) == (0, len(detected))
