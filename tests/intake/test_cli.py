"""`cyberfusion import`: a progress bar by bytes read on a terminal, silence elsewhere."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy.orm import Session

import cyberfusion.cli as cli_module
from cyberfusion.intel.models import IntelObject


def _big_list(tmp_path: Path) -> tuple[Path, int]:
    """A value list over the progress bar's threshold: unique URLs."""
    tag = uuid.uuid4().hex[:8]
    path = tmp_path / "blocklist.txt"
    rows = 0
    with path.open("w") as out:
        while out.tell() < cli_module.PROGRESS_MIN_BYTES * 2:
            out.write(f"http://gate-{tag}.com/{'p' * 40}/{rows}.php\n")
            rows += 1
    return path, rows


def _stderr(monkeypatch: pytest.MonkeyPatch, *, terminal: bool) -> io.StringIO:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=120, color_system=None)
    monkeypatch.setattr(cli_module, "err", console)
    return buffer


def test_a_large_file_shows_a_progress_bar_by_bytes_on_a_terminal(
    session: Session, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, rows = _big_list(tmp_path)
    stderr = _stderr(monkeypatch, terminal=True)
    result = cli("import", str(path), "--org", "ncb-fr", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert f"{rows} accepted, 0 duplicates, 0 rejected" in result.stdout
    shown = stderr.getvalue()
    megabytes = f"{path.stat().st_size / 1e6:.1f}"
    # Both passes over the file, each to its end: the checksum, then the import.
    assert "checking blocklist.txt" in shown
    assert "importing blocklist.txt" in shown
    assert f"{megabytes}/{megabytes} MB" in shown
    grouping = (
        session.query(IntelObject)
        .filter(IntelObject.stix_type == "grouping")
        .order_by(IntelObject.id.desc())
        .first()
    )
    assert grouping is not None
    assert grouping.content["name"].startswith("blocklist.txt (value list, submission ")


def test_not_a_terminal_no_progress_output(
    session: Session, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, rows = _big_list(tmp_path)
    stderr = _stderr(monkeypatch, terminal=False)
    result = cli("import", str(path), "--org", "ncb-fr", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert f"{rows} accepted" in result.stdout
    assert stderr.getvalue() == ""


def test_the_progress_file_follows_each_pass(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 5000)
    console = Console(file=io.StringIO(), force_terminal=True)
    with (
        cli_module.import_progress(console) as progress,
        cli_module.ProgressFile(path, progress) as handle,
    ):
        (task,) = progress.tasks
        assert handle.read(2000) == b"x" * 2000
        assert (task.description, task.completed, task.total) == ("checking data.bin", 2000, 5000)
        handle.read()
        handle.seek(0)
        assert (task.description, task.completed) == ("importing data.bin", 0)
        handle.read(100)
        assert task.completed == 100
