"""CLI: `cyberfusion knowledge load` and `cyberfusion knowledge resolve`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.audit.models import AuditEntry
from cyberfusion.intake.parsed import stable_id
from cyberfusion.knowledge import service as knowledge_service

Cli = Callable[..., Any]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _load_stealers(cli: Cli) -> str:
    result = cli("knowledge", "load", "--galaxy", "stealer")
    assert result.exit_code == 0, result.output
    return re.sub(r"\(\d+\.\d s\)", "(T s)", _flat(result.stdout))


def test_load_a_shipped_galaxy_twice(session: Session, cli: Cli) -> None:
    clusters = len(knowledge_service.read_shipped_galaxy("stealer")["values"])
    assert _load_stealers(cli) == (
        f"1 galaxies, {clusters} clusters: entries {clusters} new, 0 updated, 0 removed; "
        f"STIX objects {clusters} new, 0 changed, 0 unchanged; "
        "0 names shared by several families (T s)"
    )
    assert _load_stealers(cli) == (
        f"1 galaxies, {clusters} clusters: entries 0 new, 0 updated, 0 removed; "
        f"STIX objects 0 new, 0 changed, {clusters} unchanged; "
        "0 names shared by several families (T s)"
    )
    actors = session.scalars(
        select(AuditEntry.actor).where(AuditEntry.action == "knowledge.load")
    ).all()
    assert actors == ["cli:hub", "cli:hub"]


def test_resolve_prints_the_family(cli: Cli) -> None:
    _load_stealers(cli)
    result = cli("knowledge", "resolve", "sordeal stealer")
    assert result.exit_code == 0, result.output
    assert _flat(result.stdout) == (
        f"malware Sordeal-Stealer (stealer) {stable_id('malware', 'sordeal-stealer')} "
        "aliases: Sordeal, Sordeal Stealer"
    )


def test_resolve_unknown_exits_1(cli: Cli) -> None:
    result = cli("knowledge", "resolve", "Sordeal", "--kind", "tool")
    assert result.exit_code == 1
    assert _flat(result.stderr) == "'Sordeal' is not in the reference knowledge"


def test_load_unknown_galaxy_exits_2(cli: Cli) -> None:
    result = cli("knowledge", "load", "--galaxy", "sector")
    assert result.exit_code == 2
    assert _flat(result.stderr).startswith(
        "error (galaxies): galaxy 'sector' does not become STIX objects (one of android,"
    )
