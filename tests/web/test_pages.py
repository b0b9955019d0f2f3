"""The analyst pages through TestClient: dashboard, search, object, value, validation, admin."""

from __future__ import annotations

import html
import re
import uuid

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account import service as account_service
from cyberfusion.account.models import User
from cyberfusion.account.permissions import Role
from cyberfusion.audit.models import AuditEntry
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel import service as intel_service
from cyberfusion.notification.models import Notification
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account as account_factory
from tests.factories import intel as intel_factory

CSRF_RE = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


def _sign_in(client: TestClient, user: User) -> None:
    page = client.get("/login")
    (token,) = set(CSRF_RE.findall(page.text))
    assert user.totp_secret is not None
    response = client.post(
        "/login",
        data={
            "email": user.email,
            "password": account_factory.PASSWORD,
            "code": pyotp.TOTP(user.totp_secret).now(),
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303


def _as(
    client: TestClient, session: Session, *, org: str = "ncb-fr", role: Role = Role.OFFICER
) -> User:
    user = account_factory.user(session, org=org, role=role)
    _sign_in(client, user)
    return user


def _token(client: TestClient, path: str = "/") -> str:
    (token,) = set(CSRF_RE.findall(client.get(path).text))
    return token


def _submit_csv(session: Session, user: User, rows: str, labels: LabelsIn) -> int:
    """Intake as `user`, as the upload form does: records, observables and occurrences."""
    result = intake_service.submit(
        session=session,
        actor=account_service.actor_for(user, via="test"),
        raw=f"type,value,comment\n{rows}".encode(),
        options=SubmissionOptions(source_format=SourceFormat.CSV, labels=labels),
    )
    return result.id


def _record_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<td><a href="/objects/(\d+)">', page)]


@pytest.mark.parametrize(
    "path",
    ["/", "/search", "/observables", "/validation", "/notifications", "/admin", "/objects/1"],
)
def test_every_page_sends_a_signed_out_visitor_to_the_login_page(
    client: TestClient, path: str
) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_the_dashboard_counts_what_the_reader_may_read(
    session: Session, client: TestClient
) -> None:
    user = _as(client, session, org="ncb-br", role=Role.OFFICER)
    page = client.get("/").text
    # Brazil's officer reads the public, community and members demo records, not France's.
    assert '<dd data-stat="readable_records">3</dd>' in page
    assert '<td class="num" data-count-type="indicator">3</td>' in page
    # The trend: the same three records, received this week, drawn as a line over 12 weeks.
    assert '<p data-stat="trend">3 records you may read received in the last 12 weeks.</p>' in page
    assert 'aria-label="Records received per week"' in page
    assert page.count("<circle ") == 12
    assert "Ransomware negotiation site" not in page
    assert "Nothing is assigned to you." in page
    assert f"Welcome, {html.escape(user.display_name)}" in page
    # Menu: an officer submits but neither validates nor administers.
    assert 'href="/submissions/new"' in page
    assert 'href="/validation"' not in page
    assert 'href="/admin"' not in page


def test_the_dashboard_shows_an_analyst_the_validation_queue_and_notifications(
    session: Session, client: TestClient
) -> None:
    analyst = _as(client, session, org="hub", role=Role.HUB_ANALYST)
    _, waiting = intel_service.search(
        session=session,
        actor=account_service.actor_for(analyst, via="test"),
        status="unvalidated",
        limit=0,
    )
    session.add(
        Notification(
            recipient_org_id=analyst.org_id,
            kind="hit",
            summary="ncb-br looked up domain example.org",
            payload={},
        )
    )
    session.flush()
    page = client.get("/").text
    word = "record waits" if waiting == 1 else "records wait"
    assert f'<p data-stat="tasks"><a href="/validation">{waiting} {word} for validation' in page
    assert "ncb-br looked up domain example.org" in page
    assert 'href="/validation"' in page


def test_search_filters_by_text_type_tlp_status_and_time(
    session: Session, client: TestClient
) -> None:
    _as(client, session, org="ncb-fr")
    everything = _record_ids(client.get("/search").text)
    assert len(everything) == 5
    by_text = client.get("/search", params={"q": "ransomware"}).text
    assert [n for n in _record_ids(by_text)] == [everything[2]]
    assert '<small class="inline" data-stat="total">1 match</small>' in by_text
    red = client.get("/search", params={"tlp": "red"}).text
    assert "Money mule wallet" in red
    assert len(_record_ids(red)) == 1
    assert len(_record_ids(client.get("/search", params={"type": "indicator"}).text)) == 5
    assert _record_ids(client.get("/search", params={"type": "malware"}).text) == []
    assert _record_ids(client.get("/search", params={"status": "rejected"}).text) == []
    assert _record_ids(client.get("/search", params={"since": "2999-01-01"}).text) == []
    assert len(_record_ids(client.get("/search", params={"until": "2999-01-01"}).text)) == 5
    empty = client.get("/search", params={"q": "no such words anywhere"}).text
    assert "No record you may read matches." in empty


def test_search_with_a_bad_filter_says_which_and_why(session: Session, client: TestClient) -> None:
    _as(client, session)
    response = client.get("/search", params={"since": "yesterday"})
    assert response.status_code == 422
    assert "since: &#39;yesterday&#39; is not a date (YYYY-MM-DD)" in response.text
    bad_tlp = client.get("/search", params={"tlp": "purple"})
    assert bad_tlp.status_code == 422
    assert "tlp: unknown TLP &#39;purple&#39;" in bad_tlp.text


def test_search_for_a_value_looks_it_up_with_hit_no_hit(
    session: Session, client: TestClient
) -> None:
    value = f"{uuid.uuid4().hex[:10]}.example.com"
    owner = account_factory.user(session, org="ncb-fr")
    _submit_csv(
        session,
        owner,
        f"domain-name,{value},French case\n",
        LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION),
    )
    _as(client, session, org="ncb-br")
    page = client.get("/search", params={"q": value}).text
    assert f'<code dir="ltr">{value}</code> (domain-name)' in page
    assert "in no record you may read" in page
    assert "Other records you may not read also hold it" in page
    # Brazil reads no record of it; France is told who asked.
    assert _record_ids(page) == []
    told = session.scalars(
        select(Notification).where(
            Notification.recipient_org_id == owner.org_id, Notification.kind == "hit"
        )
    ).all()
    assert [n.payload["query"] for n in told] == [f"domain-name {value}"]


def test_the_object_page_shows_labels_provenance_versions_and_co_reporters(
    session: Session, client: TestClient
) -> None:
    value = f"198.51.100.{uuid.uuid4().int % 200 + 1}"
    fr = account_factory.user(session, org="ncb-fr")
    ng = account_factory.user(session, org="ncb-ng")
    community = LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)
    _submit_csv(session, fr, f"ipv4-addr,{value},seen in France\n", community)
    _submit_csv(session, ng, f"ipv4-addr,{value},seen in Nigeria\n", community)
    _as(client, session, org="ncb-fr")
    found = client.get("/search", params={"q": "seen in Nigeria"}).text
    (record_id,) = _record_ids(found)
    page = client.get(f"/objects/{record_id}")
    assert page.status_code == 200
    text = page.text
    assert 'data-fact="owner">' in text and "<code>ncb-ng</code>" in text
    assert '<dd data-fact="audience">community</dd>' in text
    assert "TLP:GREEN" in text
    assert f'<code dir="ltr">{value}</code>' in text
    # France's own report of the same address is listed as another reporter.
    reporters = re.search(r'<dd class="reporters">(.*?)</dd>', text, re.S)
    assert reporters is not None
    assert "<code>ncb-fr</code>" in reporters.group(1)
    assert "Jurisdictions" in text
    assert text.count('aria-current="true"') == 1
    assert f"&#34;pattern&#34;: &#34;[ipv4-addr:value = &#39;{value}&#39;]&#34;" in text


def test_an_object_the_reader_may_not_read_is_404(session: Session, client: TestClient) -> None:
    owner = account_factory.actor(session, org="ncb-fr")
    secret = intel_factory.record(
        session, owner, LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION)
    )
    _as(client, session, org="ncb-br")
    response = client.get(f"/objects/{secret.id}")
    assert response.status_code == 404
    assert f"no record {secret.id}" in response.text
    assert secret.stix_id not in response.text
    assert client.get("/objects/999999999").status_code == 404


def test_the_value_page_answers_no_hit_and_explains_bad_input(
    session: Session, client: TestClient
) -> None:
    _as(client, session)
    unknown = client.get("/observables", params={"value": "never-reported.example.net"})
    assert unknown.status_code == 200
    assert '<p class="empty" data-stat="no-hit">No one has reported this value.</p>' in (
        unknown.text
    )
    bad = client.get("/observables", params={"value": "300.1.1.1", "type": "ipv4-addr"})
    assert bad.status_code == 422
    assert 'role="alert"' in bad.text
    assert "300.1.1.1" in bad.text
    assert client.get("/observables").status_code == 200


def test_an_analyst_validates_and_rejects_from_the_queue(
    session: Session, client: TestClient
) -> None:
    partner = account_factory.actor(session, org="partner-northwind", role=Role.PARTNER_ANALYST)
    first = intel_factory.record(
        session, partner, LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)
    )
    second = intel_factory.record(
        session, partner, LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)
    )
    assert (first.status, second.status) == ("unvalidated", "unvalidated")
    _as(client, session, org="hub", role=Role.HUB_ANALYST)
    queue = client.get("/validation").text
    assert f'action="/objects/{first.id}/validation"' in queue
    token = _token(client, "/validation")
    refused = client.post(
        f"/objects/{first.id}/validation",
        data={"decision": "validated", "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    done = client.post(
        f"/objects/{first.id}/validation",
        data={"decision": "validated", "reason": "matches our telemetry", "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/validation?decided={first.id}&decision=validated"
    after = client.get(done.headers["location"]).text
    assert f"Record {first.id} validated." in after
    assert f'action="/objects/{first.id}/validation"' not in after
    client.post(
        f"/objects/{second.id}/validation",
        data={"decision": "rejected", "csrf_token": token},
        follow_redirects=False,
    )
    session.refresh(first)
    session.refresh(second)
    assert (first.status, second.status) == ("validated", "rejected")
    reasons = session.scalars(
        select(AuditEntry.details).where(
            AuditEntry.action == "record.validated", AuditEntry.target_id == str(first.id)
        )
    ).all()
    assert [r["reason"] for r in reasons] == ["matches our telemetry"]
    bad = client.post(
        f"/objects/{second.id}/validation",
        data={"decision": "maybe", "csrf_token": token},
        follow_redirects=False,
    )
    assert bad.status_code == 422
    assert "decision must be one of validated, rejected, not &#39;maybe&#39;" in bad.text


def test_an_officer_may_not_open_the_validation_queue_or_administration(
    session: Session, client: TestClient
) -> None:
    _as(client, session)
    for path in ("/validation", "/admin"):
        response = client.get(path)
        assert response.status_code == 403
        assert "this action needs the permission" in response.text


def test_notifications_list_the_organisation_s_own_only(
    session: Session, client: TestClient
) -> None:
    user = _as(client, session, org="ncb-fr")
    other = account_factory.user(session, org="ncb-ng")
    session.add_all(
        [
            Notification(
                recipient_org_id=user.org_id, kind="hit", summary="for France", payload={}
            ),
            Notification(
                recipient_org_id=other.org_id, kind="hit", summary="for Nigeria", payload={}
            ),
        ]
    )
    session.flush()
    page = client.get("/notifications").text
    assert "for France" in page
    assert "for Nigeria" not in page
    assert '<tr class="unread">' in page


def test_administration_lists_organisations_users_keys_and_the_audit_chain(
    session: Session, client: TestClient
) -> None:
    admin = _as(client, session, org="hub", role=Role.ADMIN)
    account_factory.api_key(session, admin)
    page = client.get("/admin")
    assert page.status_code == 200
    assert '<p class="ok" data-stat="audit">Intact:' in page.text
    assert "<code>ncb-fr</code>" in page.text
    assert admin.email in page.text
    assert re.search(r"<td><code>cf_[A-Za-z0-9_-]{7}…</code></td>", page.text)


def test_administration_checks_only_the_latest_audit_entries_of_a_long_log(
    session: Session, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cyberfusion.web import views

    _as(client, session, org="hub", role=Role.ADMIN)
    monkeypatch.setattr(views, "ADMIN_AUDIT_TAIL", 3)
    page = client.get("/admin").text
    assert '<p class="ok" data-stat="audit">Intact: 3 entries checked.</p>' in page
    head = session.scalar(select(func.max(AuditEntry.seq)))
    assert head is not None
    assert f"from entry {head - 2:,}; to check the whole chain run" in page


def test_pages_carry_the_content_security_policy_and_no_inline_script(
    session: Session, client: TestClient
) -> None:
    _as(client, session)
    for path in ("/", "/search", "/observables", "/notifications", "/submissions/new"):
        response = client.get(path)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        scripts = re.findall(r"<script[^>]*>.*?</script>", response.text, re.S)
        # Every script is a file the platform serves; the upload form adds its progress bar's.
        page_scripts = ['<script src="/static/upload.js" defer></script>'] * (
            path == "/submissions/new"
        )
        assert scripts == ['<script src="/static/htmx.min.js" defer></script>', *page_scripts]
        assert "<style" not in response.text
        assert " style=" not in response.text
        assert re.search(r"<[^>]+\son[a-z]+=", response.text) is None
