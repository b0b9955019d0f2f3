"""The `cyberfusion` command line, in the test transaction and end to end in subprocesses."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import cyberfusion.cli as cli_module
from cyberfusion.account import service as account_service
from cyberfusion.account.models import ApiKey, User
from cyberfusion.audit.models import AuditEntry
from cyberfusion.core.db import bulk_insert, make_engine
from cyberfusion.core.time import utcnow
from cyberfusion.observable.models import Observable
from cyberfusion.registry import service as registry_service
from cyberfusion.registry.models import Organisation
from tests.conftest import fresh_database
from tests.factories import account as account_factory

KEY_RE = re.compile(r"^cf_[A-Za-z0-9_-]{43}$")
Cli = Callable[..., Any]


def _flat(text: str) -> str:
    """Rich wraps long messages at the console width; compare them with spaces normalised."""
    return " ".join(text.split())


def _count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# org


def test_org_add(session: Session, cli: Cli) -> None:
    result = cli(
        "org", "add", "cert-test", "--name", "Test CERT", "--kind", "cert", "--country", "fr"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "added cert-test (cert, FR)\n"
    org = registry_service.get_by_slug_or_raise(session=session, slug="cert-test")
    assert (org.name, org.kind, org.country_code, org.region_code) == (
        "Test CERT",
        "cert",
        "FR",
        "europe",
    )
    entry = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "organisation.create", AuditEntry.target_id == str(org.id)
        )
    ).one()
    assert entry.actor == "cli"


def test_org_add_unknown_country_exits_2_and_stores_nothing(session: Session, cli: Cli) -> None:
    before = _count(session, Organisation)
    result = cli(
        "org", "add", "cert-xx", "--name", "Nowhere CERT", "--kind", "cert", "--country", "XX"
    )
    assert result.exit_code == 2
    assert _flat(result.stderr) == (
        "error (country): 'XX' is not the ISO 3166-1 alpha-2 code of a member country"
    )
    assert result.stdout == ""
    assert registry_service.get_by_slug(session=session, slug="cert-xx") is None
    assert _count(session, Organisation) == before


def test_org_add_duplicate_slug_exits_2(session: Session, cli: Cli) -> None:
    before = _count(session, Organisation)
    result = cli("org", "add", "ncb-fr", "--name", "Again", "--kind", "cert", "--country", "FR")
    assert result.exit_code == 2
    assert _flat(result.stderr) == "error (slug): an organisation with slug 'ncb-fr' exists"
    assert _count(session, Organisation) == before
    assert registry_service.get_by_slug_or_raise(session=session, slug="ncb-fr").kind == "ncb"


def test_org_add_bad_slug_exits_2_naming_slug(session: Session, cli: Cli) -> None:
    result = cli("org", "add", "Bad Slug", "--name", "X", "--kind", "cert")
    assert result.exit_code == 2
    assert _flat(result.stderr) == (
        "error (slug): Value error, must be 3 to 64 lower-case letters, digits or hyphens, "
        "starting and ending with a letter or digit"
    )


def test_org_list_prints_one_organisation_a_line(session: Session, cli: Cli) -> None:
    result = cli("org", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    orgs = registry_service.list_(session=session)
    assert len(lines) == len(orgs) == registry_service.count(session=session)
    assert lines == [f"{o.slug}\t{o.kind}\t{o.country_code or '-'}\t{o.name}" for o in orgs]
    by_slug = {line.split("\t")[0]: line.split("\t") for line in lines}
    assert by_slug["ncb-fr"][:3] == ["ncb-fr", "ncb", "FR"]
    assert by_slug["hub"][:3] == ["hub", "hub", "-"]


# user


def test_user_add_with_a_generated_password_prints_password_and_totp_secret(
    session: Session, cli: Cli
) -> None:
    result = cli("user", "add", "new.officer@test.example", "--org", "ncb-fr", "--role", "officer")
    assert result.exit_code == 0, result.output
    passwords = re.findall(r"^password: (\S+)$", result.stdout, re.MULTILINE)
    secrets_ = re.findall(r"^TOTP secret: ([A-Z2-7]+)$", result.stdout, re.MULTILINE)
    assert len(passwords) == 1
    assert len(secrets_) == 1
    user = account_service.get_by_email_or_raise(session=session, email="new.officer@test.example")
    assert (user.organisation.slug, user.roles, user.totp_secret) == (
        "ncb-fr",
        ["officer"],
        secrets_[0],
    )
    outcome = account_service.login(
        session=session,
        email="new.officer@test.example",
        password=passwords[0],
        totp_code=pyotp.TOTP(secrets_[0]).now(),
    )
    assert outcome.user is user


def test_user_reset_totp_gives_a_new_seed_and_the_old_one_stops_working(
    session: Session, cli: Cli
) -> None:
    added = cli("user", "add", "lost.phone@test.example", "--org", "ncb-fr", "--role", "officer")
    assert added.exit_code == 0, added.output
    (password,) = re.findall(r"^password: (\S+)$", added.stdout, re.MULTILINE)
    (old_seed,) = re.findall(r"^TOTP secret: ([A-Z2-7]+)$", added.stdout, re.MULTILINE)
    result = cli("user", "reset-totp", "lost.phone@test.example")
    assert result.exit_code == 0, result.output
    (new_seed,) = re.findall(r"^TOTP secret: ([A-Z2-7]+)$", result.stdout, re.MULTILINE)
    assert new_seed != old_seed
    user = account_service.get_by_email_or_raise(session=session, email="lost.phone@test.example")
    assert user.totp_secret == new_seed
    refused = account_service.login(
        session=session, email=user.email, password=password, totp_code=pyotp.TOTP(old_seed).now()
    )
    assert (refused.user, refused.error) == (None, "wrong e-mail, password or code")
    outcome = account_service.login(
        session=session,
        email=user.email,
        password=password,
        totp_code=pyotp.TOTP(new_seed).now(),
    )
    assert outcome.user is user
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.totp_reset")).all()
    assert [entry.details for entry in audit] == [{"email": "lost.phone@test.example"}]
    viewer = cli("user", "reset-totp", "viewer@ncb-br.cyberfusion.example")
    assert viewer.exit_code == 2
    assert "signs in without a second factor" in " ".join(viewer.output.split())


def test_user_add_reads_the_password_from_stdin(session: Session, cli: Cli) -> None:
    result = cli(
        "user",
        "add",
        "reader@test.example",
        "--org",
        "cert-fr",
        "--role",
        "viewer",
        "--role",
        "partner_analyst",
        "--password-stdin",
        input="Stdin-Passphrase-42\n",
    )
    assert result.exit_code == 0, result.output
    assert "password:" not in result.stdout
    assert "Stdin-Passphrase-42" not in result.output
    user = account_service.get_by_email_or_raise(session=session, email="reader@test.example")
    assert user.roles == ["partner_analyst", "viewer"]
    assert PasswordHasher().verify(user.password_hash, "Stdin-Passphrase-42") is True
    assert re.search(r"^TOTP secret: ([A-Z2-7]+)$", result.stdout, re.MULTILINE) is not None


def test_user_add_viewer_gets_no_totp_secret(session: Session, cli: Cli) -> None:
    result = cli(
        "user",
        "add",
        "viewer2@test.example",
        "--org",
        "ncb-br",
        "--role",
        "viewer",
        "--password-stdin",
        input="Viewer-Passphrase-42\n",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "added viewer2@test.example to ncb-br as viewer\n"
    user = account_service.get_by_email_or_raise(session=session, email="viewer2@test.example")
    assert user.totp_secret is None


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["weak@test.example", "--org", "ncb-fr", "--role", "officer", "--password-stdin"],
            "short\n",
            "error (password): password is too short: at least 12 characters",
        ),
        (
            ["nobody@test.example", "--org", "nowhere", "--role", "officer"],
            None,
            "error (org): no organisation with slug 'nowhere'",
        ),
        (
            ["officer@ncb-fr.cyberfusion.example", "--org", "ncb-fr", "--role", "officer"],
            None,
            "error (email): a user with e-mail 'officer@ncb-fr.cyberfusion.example' exists",
        ),
    ],
    ids=["weak-password", "unknown-org", "duplicate-email"],
)
def test_user_add_refusals_exit_2_and_store_nothing(
    session: Session, cli: Cli, args: list[str], stdin: str | None, message: str
) -> None:
    before = _count(session, User)
    result = cli("user", "add", *args, input=stdin)
    assert result.exit_code == 2
    assert _flat(result.stderr) == message
    assert _count(session, User) == before


def test_user_add_invalid_email_exits_2_naming_email(session: Session, cli: Cli) -> None:
    result = cli("user", "add", "not-an-email", "--org", "ncb-fr", "--role", "officer")
    assert result.exit_code == 2
    assert _flat(result.stderr).startswith("error (email): value is not a valid email address")


# apikey


def test_apikey_create_prints_the_key_alone_on_the_last_line(
    session: Session, cli: Cli, client: TestClient
) -> None:
    user = account_factory.user(session, org="ncb-ng")
    result = cli("apikey", "create", user.email, "--name", "ci")
    assert result.exit_code == 0, result.output
    key = result.stdout.splitlines()[-1]
    assert KEY_RE.match(key) is not None
    assert result.stdout == key + "\n"
    row = session.scalars(
        select(ApiKey).where(ApiKey.key_hash == hashlib.sha256(key.encode()).hexdigest())
    ).one()
    assert (row.user_id, row.name, row.expires_at) == (user.id, "ci", None)
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert (response.json()["email"], response.json()["organisation"]) == (user.email, "ncb-ng")


def test_apikey_create_with_expiry_in_days(
    session: Session, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = account_factory.user(session)
    now = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setattr(cli_module, "utcnow", lambda: now)
    result = cli("apikey", "create", user.email, "--expires-days", "30")
    assert result.exit_code == 0, result.output
    key = result.stdout.splitlines()[-1]
    row = session.scalars(
        select(ApiKey).where(ApiKey.key_hash == hashlib.sha256(key.encode()).hexdigest())
    ).one()
    assert row.expires_at == now + timedelta(days=30)
    assert _flat(result.stderr) == (
        f"API key {key[:10]}… for {user.email}, expires {row.expires_at:%Y-%m-%d}. "
        "It is shown once:"
    )


@pytest.mark.parametrize("days", ["0", "-1"])
def test_apikey_create_refuses_an_expiry_not_in_the_future(
    session: Session, cli: Cli, days: str
) -> None:
    user = account_factory.user(session)
    result = cli("apikey", "create", user.email, "--expires-days", days)
    assert result.exit_code == 2
    assert _flat(result.stderr) == "error (expires_at): expiry must be in the future"
    assert result.stdout == ""
    assert session.scalars(select(ApiKey).where(ApiKey.user_id == user.id)).all() == []


def test_apikey_create_for_an_unknown_user_exits_2(cli: Cli) -> None:
    result = cli("apikey", "create", "ghost@test.example")
    assert result.exit_code == 2
    assert _flat(result.stderr) == "error (email): no user with e-mail 'ghost@test.example'"
    assert result.stdout == ""


def test_apikey_revoke_then_me_is_401(session: Session, cli: Cli, client: TestClient) -> None:
    user = account_factory.user(session)
    key = account_factory.api_key(session, user)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    result = cli("apikey", "revoke", key)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"revoked API key {key[:10]}…\n"
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "this API key was revoked"


def test_apikey_revoke_unknown_key_exits_2(cli: Cli) -> None:
    result = cli("apikey", "revoke", "cf_not-a-key")
    assert result.exit_code == 2
    assert _flat(result.stderr) == "error (key): no such API key"


# audit


def test_audit_verify_exits_0_on_an_intact_chain(session: Session, cli: Cli) -> None:
    account_factory.user(session)
    entries = _count(session, AuditEntry)
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"audit log intact: {entries} entries\n"


# End to end: the installed command in subprocesses against a fresh database and a real server.


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _counts(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return (
                _count(session, Organisation),
                _count(session, User),
                _count(session, AuditEntry),
            )
    finally:
        engine.dispose()


def test_end_to_end_upgrade_demo_key_serve_and_verify(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        env = {
            **os.environ,
            "CYBERFUSION_DATABASE_URL": url,
            "CYBERFUSION_DATA_DIR": str(tmp_path / "data"),
            "CYBERFUSION_SECRET_KEY": "end-to-end-test-secret",
        }

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "cyberfusion", *args],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )

        upgraded = run("db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        first = run("demo", "--url", "http://127.0.0.1:8123/")
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines()[-1] == "Sign in at http://127.0.0.1:8123/login"
        after_first = _counts(url)
        second = run("demo")
        assert second.returncode == 0, second.stderr
        assert _counts(url) == after_first
        orgs, users, _ = after_first
        # 196 NCBs, the hub, five desks and the partners, and one account per demo user.
        assert first.stdout.splitlines()[0].startswith(f"{orgs} organisations.")
        assert orgs > 196
        assert users == 7

        created = run("apikey", "create", "officer@ncb-fr.cyberfusion.example")
        assert created.returncode == 0, created.stderr
        key = created.stdout.splitlines()[-1]
        assert KEY_RE.match(key) is not None

        port = _free_port()
        log_path = tmp_path / "serve.log"
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cyberfusion",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=env,
                cwd=tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 30
                healthy = False
                while not healthy and time.monotonic() < deadline:
                    assert server.poll() is None, log_path.read_text()
                    try:
                        healthy = httpx.get(f"{base}/healthz", timeout=2).status_code == 200
                    except httpx.TransportError:
                        time.sleep(0.1)
                assert healthy, log_path.read_text()
                me = httpx.get(
                    f"{base}/api/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=10
                )
                assert me.status_code == 200
                body = me.json()
                assert (body["email"], body["organisation"], body["roles"]) == (
                    "officer@ncb-fr.cyberfusion.example",
                    "ncb-fr",
                    ["officer"],
                )
                anonymous = httpx.get(f"{base}/api/v1/me", timeout=10)
                assert anonymous.status_code == 401
                assert anonymous.headers["content-type"] == "application/problem+json"
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=10)

        verified = run("audit", "verify")
        assert verified.returncode == 0, verified.stderr
        entries = _counts(url)[2]
        assert verified.stdout == f"audit log intact: {entries} entries\n"


def test_db_check_exits_0_when_every_derived_row_refers_to_something(
    session: Session, cli: Cli
) -> None:
    result = cli("db", "check")
    assert result.exit_code == 0, result.output
    assert result.stdout == "every derived row refers to an existing observable and country\n"


def test_db_check_exits_1_naming_the_rows_that_refer_to_nothing(session: Session, cli: Cli) -> None:
    missing = (session.scalar(select(func.max(Observable.id))) or 0) + 1
    bulk_insert(
        session,
        "observable_assessment",
        [
            {
                "observable_id": missing,
                "reporters": 2,
                "reports": 2,
                "assessment": "corroborated",
                "confidence": 70,
                "first_reported_at": utcnow(),
                "last_reported_at": utcnow(),
                "updated_at": utcnow(),
            }
        ],
    )
    result = cli("db", "check")
    assert result.exit_code == 1
    assert (
        f"observable_assessment.observable_id: 1 row(s) refer to no observable.id ({missing})"
        in result.output
    )


def test_db_check_on_a_database_without_schema_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from tests.conftest import _clear_caches

    monkeypatch.setenv("CYBERFUSION_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    _clear_caches()
    try:
        result = CliRunner().invoke(cli_module.app, ["db", "check"])
    finally:
        monkeypatch.undo()
        _clear_caches()
    assert result.exit_code == 2
    assert "the database has no schema yet: run `cyberfusion db upgrade` first" in result.output
