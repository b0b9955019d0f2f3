"""CLI: `feed add`, `feed list`, `feed run NAME` and `worker --once`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.feed.models import Feed, FeedRun


def test_feed_add_list_run(cli: Any, session: Session, tmp_path: Path) -> None:
    listing = tmp_path / "partner.csv"
    listing.write_text("# partner list\n1;cli-feed.example.org;c2\n2;203.0.113.161;c2\n")
    added = cli(
        "feed",
        "add",
        "cli-list",
        "--kind",
        "csv",
        "--source",
        str(listing),
        "--org",
        "ncb-fr",
        "--interval",
        "600",
        "--tlp",
        "green",
        "--audience",
        "community",
        "--columns",
        '{"value": 1, "threat_type": 2}',
        "--delimiter",
        ";",
    )
    assert added.exit_code == 0, added.output
    assert added.stdout == (
        "feed cli-list (csv) for ncb-fr: every 600 s, first run at the worker's next pass\n"
    )
    feed = session.scalars(select(Feed).where(Feed.name == "cli-list")).one()
    assert (feed.trusted, feed.labels, feed.settings["csv"]["columns"]) == (
        True,
        {
            "tlp": "green",
            "audience": "community",
            "audience_country": None,
            "audience_region": None,
            "recipients": [],
            "no_further_dissemination": False,
            "no_judicial_use": False,
            "contact_owner_before_action": False,
        },
        {"value": 1, "threat_type": 2},
    )
    ran = cli("feed", "run", "cli-list")
    assert ran.exit_code == 0, ran.output
    feed_run = session.scalars(select(FeedRun).where(FeedRun.feed_id == feed.id)).one()
    submissions = ", ".join(str(s) for s in feed_run.details["submissions"])
    assert ran.stdout == (
        f"feed cli-list: succeeded; 2 accepted, 0 duplicates, 0 rejected; submissions "
        f"{submissions}\n"
    )
    listed = cli("feed", "list")
    assert listed.exit_code == 0, listed.output
    session.refresh(feed)
    assert listed.stdout == (
        f"cli-list\tcsv\tncb-fr\tenabled\t{feed.next_run_at:%Y-%m-%dT%H:%M:%SZ}\t"
        f"succeeded {feed_run.started_at:%Y-%m-%dT%H:%M:%SZ}\t"
        "2 new, 0 duplicates, 0 rejected\n"
    )


def test_feed_add_reports_bad_options(cli: Any) -> None:
    bad_json = cli(
        "feed", "add", "bad", "--kind", "csv", "--source", "/x", "--org", "ncb-fr",
        "--columns", "{value: 0}",
    )  # fmt: skip
    assert bad_json.exit_code == 2
    assert "error (--columns): not valid JSON" in bad_json.stderr
    bad_kind = cli("feed", "add", "bad", "--kind", "rss", "--source", "/x", "--org", "ncb-fr")
    assert bad_kind.exit_code == 2
    assert "error (kind): Input should be 'taxii', 'misp' or 'csv'" in bad_kind.stderr
    relative = cli("feed", "add", "rel", "--kind", "csv", "--source", "x.txt", "--org", "ncb-fr")
    assert relative.exit_code == 2
    assert "error (source): 'x.txt': a local source must be an absolute path" in relative.stderr


def test_feed_run_failure_exits_1(cli: Any, tmp_path: Path) -> None:
    missing = tmp_path / "absent.txt"
    assert cli(
        "feed", "add", "absent", "--kind", "csv", "--source", str(missing), "--org", "ncb-fr"
    ).exit_code == 0  # fmt: skip
    ran = cli("feed", "run", "absent")
    assert ran.exit_code == 1
    assert f"error: {missing}: No such file or directory" in ran.stderr
    unknown = cli("feed", "run", "no-such-feed")
    assert unknown.exit_code == 2
    assert "error (name): no feed named 'no-such-feed'" in unknown.stderr


def test_worker_once_runs_the_due_feeds(cli: Any, session: Session, tmp_path: Path) -> None:
    listing = tmp_path / "due.txt"
    listing.write_text("worker-due.example.org\n")
    for name in ("due-one", "due-two"):
        assert cli(
            "feed", "add", name, "--kind", "csv", "--source", str(listing), "--org", "ncb-fr"
        ).exit_code == 0  # fmt: skip
    ran = cli("worker", "--once")
    assert ran.exit_code == 0, ran.output
    assert ran.stdout.endswith("2 feed runs\n")
    statuses = session.scalars(
        select(FeedRun.status)
        .join(Feed, Feed.id == FeedRun.feed_id)
        .where(Feed.name.in_(["due-one", "due-two"]))
    ).all()
    assert sorted(statuses) == ["succeeded", "succeeded"]
    # Both ran: neither is due before its interval has passed.
    again = cli("worker", "--once")
    assert again.stdout.endswith("0 feed runs\n")
