"""The audit hash chain: intact logs verify; edited, deleted, inserted or reordered ones do not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.audit.models import AuditEntry
from cyberfusion.core.errors import ValidationFailed
from cyberfusion.registry.models import OrgKind
from tests.factories import registry as registry_factory


def _last_seq(session: Session) -> int:
    return session.scalar(select(func.max(AuditEntry.seq))) or 0


def _append(session: Session, n: int) -> list[int]:
    actor = Actor.operator("test")
    return [
        audit_service.record(
            session=session,
            actor=actor,
            action="test.event",
            target_type="test",
            target_id=i,
            details={"i": i, "note": "é"},
        ).seq
        for i in range(n)
    ]


def test_intact_log_verifies(session: Session) -> None:
    _append(session, 5)
    result = audit_service.verify(session=session)
    assert result.ok is True
    assert result.entries == _last_seq(session)
    assert result.bad_seq is None


def test_each_entry_links_to_the_previous(session: Session) -> None:
    seqs = _append(session, 3)
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.seq.in_(seqs)).order_by(AuditEntry.seq)
    ).all()
    assert rows[1].prev_hash == rows[0].hash
    assert rows[2].prev_hash == rows[1].hash
    assert [r.seq for r in rows] == [seqs[0], seqs[0] + 1, seqs[0] + 2]


def _edit(session: Session, seq: int) -> None:
    session.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = :s"), {"s": seq})


def _edit_details(session: Session, seq: int) -> None:
    session.execute(text("UPDATE audit_entry SET target_id = 'other' WHERE seq = :s"), {"s": seq})


def _delete(session: Session, seq: int) -> None:
    session.execute(text("DELETE FROM audit_entry WHERE seq = :s"), {"s": seq})


def _reorder(session: Session, seq: int) -> None:
    # Swap two neighbours' positions (contents move, numbers stay in sequence).
    session.execute(text("UPDATE audit_entry SET seq = -1 WHERE seq = :s"), {"s": seq})
    session.execute(
        text("UPDATE audit_entry SET seq = :s WHERE seq = :n"), {"s": seq, "n": seq + 1}
    )
    session.execute(text("UPDATE audit_entry SET seq = :n WHERE seq = -1"), {"n": seq + 1})


def _insert(session: Session, seq: int) -> None:
    # Forge an entry between seq-1 and seq by shifting the later ones up and copying a
    # neighbour's fields, with a hash that would be right for its own content.
    later = session.scalars(
        select(AuditEntry.seq).where(AuditEntry.seq >= seq).order_by(AuditEntry.seq.desc())
    ).all()
    for s in later:
        session.execute(text("UPDATE audit_entry SET seq = seq + 1 WHERE seq = :s"), {"s": s})
    prev = session.get(AuditEntry, seq - 1)
    assert prev is not None
    forged = AuditEntry(
        seq=seq,
        at=prev.at,
        actor="mallory",
        actor_user_id=None,
        actor_org_id=None,
        action="user.create",
        target_type="user",
        target_id="999",
        details={},
        prev_hash=prev.hash,
    )
    forged.hash = audit_service.entry_hash(forged)
    session.add(forged)
    session.flush()
    session.expire_all()


@pytest.mark.parametrize(
    ("tamper", "offset", "reason"),
    [
        (_edit, 2, "was altered"),
        (_edit_details, 4, "was altered"),
        (_delete, 2, "is missing"),
        (_reorder, 1, "does not link"),
        (_insert, 3, "does not link"),
    ],
)
def test_tampering_is_detected_at_the_first_bad_entry(
    session: Session, tamper: Callable[[Session, int], None], offset: int, reason: str
) -> None:
    seqs = _append(session, 6)
    target = seqs[0] + offset
    session.flush()
    tamper(session, target)
    session.expire_all()
    result = audit_service.verify(session=session)
    assert result.ok is False
    assert result.bad_seq == target + (1 if tamper is _insert else 0)
    assert reason in result.reason


def test_deleting_the_newest_entries_is_detected(session: Session) -> None:
    seqs = _append(session, 4)
    session.execute(text("DELETE FROM audit_entry WHERE seq >= :s"), {"s": seqs[2]})
    session.expire_all()
    result = audit_service.verify(session=session)
    assert result.ok is False
    assert result.bad_seq == seqs[2]
    assert "deleted" in result.reason


def test_appending_without_moving_the_head_is_detected(session: Session) -> None:
    seqs = _append(session, 2)
    last = session.get(AuditEntry, seqs[-1])
    assert last is not None
    extra = AuditEntry(
        seq=last.seq + 1,
        at=last.at,
        actor="mallory",
        actor_user_id=None,
        actor_org_id=None,
        action="x",
        target_type="x",
        target_id="x",
        details={},
        prev_hash=last.hash,
    )
    extra.hash = audit_service.entry_hash(extra)
    session.add(extra)
    session.flush()
    result = audit_service.verify(session=session)
    assert result.ok is False
    assert "head" in result.reason


def test_a_refused_change_leaves_no_audit_entry(session: Session) -> None:
    before = _last_seq(session)
    with pytest.raises(ValidationFailed):
        registry_factory.organisation(session, kind=OrgKind.CERT, country="ZZ")
    assert _last_seq(session) == before


def test_cli_verify_exits_1_naming_the_entry(session: Session, cli) -> None:  # type: ignore[no-untyped-def]
    ok = cli("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "audit log intact" in ok.output
    seqs = _append(session, 3)
    _edit(session, seqs[1])
    session.expire_all()
    broken = cli("audit", "verify")
    assert broken.exit_code == 1
    assert f"broken at entry {seqs[1]}" in broken.output


def test_the_tail_check_walks_only_the_last_entries_and_ends_at_the_head(
    session: Session,
) -> None:
    seqs = _append(session, 6)
    last = _last_seq(session)
    tail = audit_service.verify(session=session, tail=4)
    assert (tail.ok, tail.entries, tail.first_seq) == (True, 4, last - 3)
    whole = audit_service.verify(session=session, tail=last + 10)
    assert (whole.ok, whole.entries, whole.first_seq) == (True, last, 1)
    # An edit inside the tail is caught by the tail check...
    _edit(session, seqs[-2])
    broken = audit_service.verify(session=session, tail=4)
    assert (broken.ok, broken.bad_seq) == (False, seqs[-2])


def test_an_edit_before_the_tail_needs_the_whole_walk(session: Session) -> None:
    seqs = _append(session, 6)
    _edit(session, seqs[0])
    assert audit_service.verify(session=session, tail=3).ok is True
    whole = audit_service.verify(session=session)
    assert (whole.ok, whole.bad_seq) == (False, seqs[0])


def test_the_tail_check_sees_deleted_last_entries_and_a_missing_link(session: Session) -> None:
    seqs = _append(session, 6)
    session.execute(text("DELETE FROM audit_entry WHERE seq >= :s"), {"s": seqs[-2]})
    cut = audit_service.verify(session=session, tail=10)
    assert (cut.ok, cut.bad_seq) == (False, seqs[-2])
    assert cut.reason == f"entries {seqs[-2]} to {seqs[-1]} were deleted"


def test_the_tail_check_needs_the_entry_it_starts_from(session: Session) -> None:
    seqs = _append(session, 6)
    last = _last_seq(session)
    session.execute(text("DELETE FROM audit_entry WHERE seq = :s"), {"s": last - 3})
    missing = audit_service.verify(session=session, tail=3)
    assert (missing.ok, missing.bad_seq, missing.reason) == (
        False,
        last - 3,
        f"entry {last - 3} is missing",
    )
    assert seqs[-1] == last
