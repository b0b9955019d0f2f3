"""The world map page and the search filters it links to (country concerned, source)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from tests.web.test_pages import _as, _record_ids, _submit_csv

MEMBERS = LabelsIn(tlp=Tlp.GREEN, audience=Audience.MEMBERS)
OWN = LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION)


def _count_row(page: str, code: str) -> int | None:
    found = re.search(rf'<tr data-country="{code}">.*?<td class="num">([\d,]+)</td>', page)
    return int(found.group(1).replace(",", "")) if found else None


def test_a_signed_out_visitor_goes_to_the_login_page(client: TestClient) -> None:
    response = client.get("/map", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_the_map_shows_what_the_reader_may_read_with_links_to_search(
    session: Session, client: TestClient
) -> None:
    submitter = _as(client, session, org="ncb-fr")
    _submit_csv(session, submitter, "domain-name,map-one.ch,x\ndomain-name,map-two.ch,x\n", MEMBERS)
    _submit_csv(session, submitter, "domain-name,hidden-map.ch,x\n", OWN)
    own_view = client.get("/map").text
    assert _count_row(own_view, "CH") == 3
    client.cookies.clear()
    _as(client, session, org="ncb-br")
    page = client.get("/map")
    assert page.status_code == 200
    assert _count_row(page.text, "CH") == 2
    # The SVG map: every member drawn, Switzerland a link to its records, named in English.
    assert page.text.count("data-country=") >= 196
    assert '<a href="/search?country=CH"><g data-country="CH">' in page.text
    assert "<title>Switzerland: 2</title>" in page.text
    assert 'href="/map"' in page.text  # in the menu


def test_the_map_speaks_the_readers_language(session: Session, client: TestClient) -> None:
    user = _as(client, session, org="ncb-br")
    _submit_csv(session, user, "domain-name,carte.ch,x\n", MEMBERS)
    page = client.get("/map", headers={"Accept-Language": "fr"}).text
    assert "<title>Suisse : 1</title>" in page or "<title>Suisse: 1</title>" in page
    assert '<html lang="fr" dir="ltr">' in page


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"view": "sideways"}, "view: unknown view &#39;sideways&#39;"),
        ({"since": "last week"}, "since: &#39;last week&#39; is not a date (YYYY-MM-DD)"),
    ],
)
def test_a_bad_filter_says_which_and_why(
    session: Session, client: TestClient, params: dict[str, str], message: str
) -> None:
    _as(client, session, org="ncb-br")
    response = client.get("/map", params=params)
    assert response.status_code == 422
    assert message in response.text


def test_search_by_country_concerned_and_by_source(session: Session, client: TestClient) -> None:
    user = _as(client, session, org="ncb-br", role=Role.OFFICER)
    mine = _submit_csv(session, user, "domain-name,filter-one.at,x\n", MEMBERS)
    assert mine > 0
    by_country = client.get("/search", params={"country": "at"}).text
    found = _record_ids(by_country)
    assert len(found) == 1
    assert '<option value="AT" selected>' in by_country
    elsewhere = client.get("/search", params={"country": "AT", "source": "ncb-fr"}).text
    assert _record_ids(elsewhere) == []
    by_source = _record_ids(client.get("/search", params={"source": "ncb-br"}).text)
    assert found[0] in by_source
    unknown = client.get("/search", params={"country": "ZZ"})
    assert unknown.status_code == 422
    assert "&#39;ZZ&#39; is not the ISO 3166-1 alpha-2 code of a member country" in unknown.text
    nobody = client.get("/search", params={"source": "no-such-org"})
    assert nobody.status_code == 422
    assert "no organisation with slug &#39;no-such-org&#39;" in nobody.text
