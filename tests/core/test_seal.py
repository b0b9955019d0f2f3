"""Secrets sealed at rest: round trip, tamper and wrong-key detection, the TOTP seed column,
and the migration that seals the seeds stored in clear before it."""

from __future__ import annotations

import base64
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cyberfusion.account.models import TOTP_SEAL_PURPOSE, User
from cyberfusion.core import config, seal
from cyberfusion.core.db import make_engine
from cyberfusion.core.migrate import upgrade
from tests.conftest import fresh_database
from tests.factories import account as account_factory


def test_a_sealed_value_round_trips_and_never_shows_the_plaintext() -> None:
    secret = pyotp.random_base32()
    sealed = seal.seal(secret, purpose="totp seed")
    assert sealed.startswith(seal.PREFIX)
    assert secret not in sealed
    assert seal.unseal(sealed, purpose="totp seed") == secret
    # A fresh nonce each time: the same seed sealed twice gives two different values.
    assert seal.seal(secret, purpose="totp seed") != sealed


def test_an_altered_value_or_another_purpose_is_refused() -> None:
    sealed = seal.seal("JBSWY3DPEHPK3PXP", purpose="totp seed")
    raw = bytearray(base64.urlsafe_b64decode(sealed[len(seal.PREFIX) :]))
    raw[14] ^= 0x01
    altered = seal.PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(seal.SealBroken, match="cannot unseal a totp seed"):
        seal.unseal(altered, purpose="totp seed")
    with pytest.raises(seal.SealBroken):
        seal.unseal(sealed, purpose="api key")
    with pytest.raises(seal.SealBroken):
        seal.unseal(seal.PREFIX + "not base64 at all!", purpose="totp seed")


def test_another_platform_key_cannot_unseal(monkeypatch: pytest.MonkeyPatch) -> None:
    sealed = seal.seal("JBSWY3DPEHPK3PXP", purpose="totp seed")
    monkeypatch.setenv("CYBERFUSION_SECRET_KEY", "a-different-key")
    config.get_settings.cache_clear()
    try:
        with pytest.raises(seal.SealBroken):
            seal.unseal(sealed, purpose="totp seed")
    finally:
        monkeypatch.undo()
        config.get_settings.cache_clear()
    assert seal.unseal(sealed, purpose="totp seed") == "JBSWY3DPEHPK3PXP"


def test_a_value_stored_before_sealing_reads_as_it_is() -> None:
    assert seal.unseal("JBSWY3DPEHPK3PXP", purpose="totp seed") == "JBSWY3DPEHPK3PXP"


def test_the_database_holds_the_totp_seed_sealed(session: Session) -> None:
    user = account_factory.user(session, org="ncb-fr")
    assert user.totp_secret is not None
    stored = session.execute(
        sa.text("SELECT totp_secret FROM user_account WHERE id = :id"), {"id": user.id}
    ).scalar_one()
    assert stored.startswith(seal.PREFIX)
    assert user.totp_secret not in stored
    assert seal.unseal(stored, purpose=TOTP_SEAL_PURPOSE) == user.totp_secret


def test_a_seed_sealed_with_another_key_reads_as_no_second_factor(session: Session) -> None:
    user = account_factory.user(session, org="ncb-fr")
    user.totp_secret_sealed = seal.PREFIX + base64.urlsafe_b64encode(b"\0" * 40).decode()
    assert user.totp_secret is None
    user.totp_secret = None
    assert user.totp_secret_sealed is None


def test_the_migration_seals_the_seeds_stored_in_clear(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        upgrade(url, "0016")
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                org_id = connection.execute(
                    sa.text("SELECT id FROM organisation WHERE slug = 'hub'")
                ).scalar_one_or_none()
                if org_id is None:
                    org_id = connection.execute(
                        sa.text(
                            "INSERT INTO organisation (slug, name, kind, operational, is_active,"
                            " created_at, default_tlp, default_audience) VALUES ('hub', 'Hub',"
                            " 'hub', false, true, CURRENT_TIMESTAMP, 'amber', 'organisation')"
                            " RETURNING id"
                        )
                    ).scalar_one()
                connection.execute(
                    sa.text(
                        "INSERT INTO user_account (email, display_name, org_id, password_hash,"
                        " totp_secret, totp_required, failed_logins, is_active, created_at)"
                        " VALUES ('old@example.org', 'old', :org, 'x', 'JBSWY3DPEHPK3PXP', true,"
                        " 0, true, CURRENT_TIMESTAMP)"
                    ),
                    {"org": org_id},
                )
            upgrade(url)
            with engine.connect() as connection:
                stored = connection.execute(
                    sa.text("SELECT totp_secret FROM user_account WHERE email = 'old@example.org'")
                ).scalar_one()
            assert stored.startswith(seal.PREFIX)
            assert seal.unseal(stored, purpose=TOTP_SEAL_PURPOSE) == "JBSWY3DPEHPK3PXP"
            with Session(engine) as session:
                user = session.scalars(sa.select(User).where(User.email == "old@example.org")).one()
                assert user.totp_secret == "JBSWY3DPEHPK3PXP"
        finally:
            engine.dispose()
