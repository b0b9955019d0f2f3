"""The agreements section of the administration page through TestClient: list, register,
amend, suspend and resume, each form with its CSRF token and audited."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.audit.models import AuditEntry
from cyberfusion.partner.models import Agreement
from tests.web.test_pages import _as, _token

FORM = {
    "organisation": "cert-jo",
    "title": "Malware samples exchange",
    "reference": "DSA-WEB-0001",
    "signed_on": "2026-05-02",
    "valid_from": "2026-05-10",
    "valid_until": "",
    "max_tlp": "amber",
    "scope": "Samples and hashes.",
}


def _row(page: str, agreement_id: int) -> str:
    found = re.search(rf'<tr id="agreement-{agreement_id}".*?</tr>', page, re.S)
    assert found is not None, f"agreement {agreement_id} is not listed"
    return found.group(0)


def _actions(session: Session, agreement_id: int) -> list[str]:
    return list(
        session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.target_type == "agreement", AuditEntry.target_id == str(agreement_id))
            .order_by(AuditEntry.seq)
        )
    )


def test_the_admin_page_lists_the_demo_agreements(session: Session, client: TestClient) -> None:
    _as(client, session, org="hub", role=Role.ADMIN)
    page = client.get("/admin")
    assert page.status_code == 200
    rows = re.findall(r'<tr id="agreement-(\d+)" data-agreement=', page.text)
    assert len(rows) == 8
    assert "<code>DSA-2026-PARTNER-NORTHWIND</code>" in page.text
    assert '<td data-status="active">active' in page.text
    # Only partner organisations are offered for a new agreement.
    options = re.findall(
        r'<option value="([a-z0-9-]+)">',
        page.text.split('id="new-organisation"')[1].split("</select>")[0],
    )
    assert options == [
        "cert-br",
        "cert-fr",
        "cert-jo",
        "cert-ng",
        "cert-sg",
        "intl-regional-police",
        "partner-bluewave",
        "partner-northwind",
    ]


def test_register_amend_suspend_resume_through_the_forms(
    session: Session, client: TestClient
) -> None:
    _as(client, session, org="hub", role=Role.ADMIN)
    token = _token(client, "/admin")
    created = client.post(
        "/admin/agreements", data=FORM | {"csrf_token": token}, follow_redirects=False
    )
    assert created.status_code == 303
    agreement = session.scalars(
        select(Agreement).where(Agreement.reference == "DSA-WEB-0001")
    ).one()
    assert created.headers["location"] == (
        f"/admin?agreement={agreement.id}&done=created#agreement-{agreement.id}"
    )
    page = client.get(created.headers["location"]).text
    assert f"Agreement {agreement.id} registered." in page
    row = _row(page, agreement.id)
    assert "from May 10, 2026, open-ended" in row
    assert "TLP:AMBER" in row

    amended = client.post(
        f"/admin/agreements/{agreement.id}",
        data={
            "title": "Malware samples exchange (2)",
            "valid_until": "2027-05-09",
            "max_tlp": "green",
            "scope": "Hashes only.",
            "csrf_token": token,
        },
    )
    assert f"Agreement {agreement.id} amended." in amended.text
    row = _row(amended.text, agreement.id)
    assert "May 10, 2026 to May 9, 2027" in row and "TLP:GREEN" in row
    assert "Hashes only." in row

    suspended = client.post(
        f"/admin/agreements/{agreement.id}/suspend",
        data={"reason": "partner under review", "csrf_token": token},
    )
    row = _row(suspended.text, agreement.id)
    assert '<td data-status="suspended">suspended<br><small>partner under review</small>' in row
    assert f'action="/admin/agreements/{agreement.id}/resume"' in row

    resumed = client.post(f"/admin/agreements/{agreement.id}/resume", data={"csrf_token": token})
    assert f"Agreement {agreement.id} resumed." in resumed.text
    session.expire_all()
    assert _actions(session, agreement.id) == [
        "agreement.create",
        "agreement.update",
        "agreement.suspend",
        "agreement.resume",
    ]
    # Emptying the end date in the amend form makes the agreement open-ended again.
    client.post(
        f"/admin/agreements/{agreement.id}",
        data={
            "title": "t",
            "valid_until": "",
            "max_tlp": "green",
            "scope": "",
            "csrf_token": token,
        },
    )
    session.expire_all()
    assert session.get(Agreement, agreement.id).valid_until is None  # type: ignore[union-attr]


def test_a_form_without_its_token_changes_nothing(session: Session, client: TestClient) -> None:
    _as(client, session, org="hub", role=Role.ADMIN)
    response = client.post("/admin/agreements", data=FORM | {"csrf_token": "forged"})
    assert response.status_code == 403
    assert (
        session.scalars(
            select(Agreement).where(Agreement.reference == "DSA-WEB-0001")
        ).one_or_none()
        is None
    )


def test_invalid_input_shows_the_error_page(session: Session, client: TestClient) -> None:
    _as(client, session, org="hub", role=Role.ADMIN)
    token = _token(client, "/admin")
    backwards = client.post(
        "/admin/agreements",
        data=FORM | {"valid_until": "2026-05-01", "csrf_token": token},
    )
    assert backwards.status_code == 422
    assert "valid_until must not be before valid_from" in backwards.text
    member = client.post(
        "/admin/agreements", data=FORM | {"organisation": "ncb-fr", "csrf_token": token}
    )
    assert member.status_code == 422
    assert "ncb-fr is a ncb, not a partner" in member.text


def test_an_analyst_neither_sees_nor_posts_agreements(session: Session, client: TestClient) -> None:
    _as(client, session, org="hub", role=Role.HUB_ANALYST)
    token = _token(client, "/")
    assert client.get("/admin").status_code == 403
    response = client.post("/admin/agreements", data=FORM | {"csrf_token": token})
    assert response.status_code == 403
    assert "partner:agreement:manage" in response.text
