"""Languages of the web UI: complete catalogs, negotiation, the per-user choice, RTL, formats."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pyotp
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.models import User
from cyberfusion.audit.models import AuditEntry
from cyberfusion.web import i18n
from tests.factories import account as account_factory

WEB = Path(str(resources.files("cyberfusion.web")))
TRANSLATED = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT]
CSRF_RE = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
HTML_TAG = re.compile(r'<html lang="([a-z]+)" dir="(ltr|rtl)">')


def _source_messages() -> set[str | tuple[str, ...]]:
    """Every string marked in the web package, extracted as `pybabel extract` does."""
    with (WEB / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found: set[str | tuple[str, ...]] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(WEB), method_map, options_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def _catalog(lang: str):  # type: ignore[no-untyped-def]
    with (WEB / "locale" / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=lang)


def test_the_extraction_finds_the_ui_strings() -> None:
    messages = _source_messages()
    assert "Sign in" in messages
    assert "wrong e-mail, password or code" in messages  # marked with N_ in views.py
    assert ("%(count)s match", "%(count)s matches") in messages
    assert len(messages) > 150


@pytest.mark.parametrize("lang", TRANSLATED)
def test_each_catalog_translates_exactly_the_current_strings(lang: str) -> None:
    catalog = _catalog(lang)
    in_catalog = {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id}
    source = _source_messages()
    assert sorted(map(str, source - in_catalog)) == [], "strings not in the catalog"
    assert sorted(map(str, in_catalog - source)) == [], "catalog strings no longer used"
    untranslated = [
        m.id
        for m in catalog
        if m.id
        and (
            "fuzzy" in m.flags
            or (isinstance(m.string, str) and not m.string.strip())
            or (not isinstance(m.string, str) and not all(s.strip() for s in m.string))
        )
    ]
    assert untranslated == []
    # Placeholders: a translation may not name one the English string does not pass.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check() if errors]
    assert problems == []


@pytest.mark.parametrize("lang", TRANSLATED)
def test_a_translation_differs_from_english_where_words_differ(lang: str) -> None:
    catalog = _catalog(lang)
    for msgid in ("Sign in", "Search", "Dashboard", "Records you may read"):
        message = catalog.get(msgid)
        assert message is not None
        assert message.string not in ("", msgid)


def test_the_compiled_catalogs_translate_at_run_time() -> None:
    expected = {"fr": "Se connecter", "es": "Iniciar sesión", "ar": "تسجيل الدخول"}
    for lang, words in expected.items():
        assert i18n.translations(lang).gettext("Sign in") == words
    with i18n.using("ar"):
        assert i18n.ngettext("%(count)s match", "%(count)s matches", 2) == "نتيجتان"
        assert i18n.ngettext("%(count)s match", "%(count)s matches", 5) % {"count": 5} == (
            "5 نتائج"
        )
    with i18n.using("fr"):
        assert i18n.ngettext("%(count)s match", "%(count)s matches", 1) == "%(count)s résultat"


def test_dates_and_numbers_follow_the_language() -> None:
    moment = datetime(2026, 11, 2, 9, 5, tzinfo=UTC)
    shown = {}
    for lang in i18n.LANGUAGES:
        with i18n.using(lang):
            shown[lang] = (i18n.format_number(1234567.5), i18n.format_when(moment))
    assert shown["en"] == ("1,234,567.5", "Nov 2, 2026, 9:05:00\u202fAM")
    assert shown["fr"] == ("1\u202f234\u202f567,5", "2 nov. 2026, 09:05:00")
    assert shown["es"] == ("1.234.567,5", "2 nov 2026, 9:05:00")
    assert shown["ar"][1].startswith("02\u200f/11\u200f/2026")
    with i18n.using("fr"):
        assert i18n.format_when(None) == "—"
        assert i18n.format_when("2026-11-02T09:05:00+00:00") == "2 nov. 2026, 09:05:00"


@pytest.mark.parametrize(
    ("header", "lang", "direction", "button"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr", "ltr", "Se connecter"),
        ("es-MX", "es", "ltr", "Iniciar sesión"),
        ("ar-EG,ar;q=0.9", "ar", "rtl", "تسجيل الدخول"),
        ("de-DE,en;q=0.5", "en", "ltr", "Sign in"),
        ("de-DE", "en", "ltr", "Sign in"),
        ("en;q=0.2,fr;q=0.8", "fr", "ltr", "Se connecter"),
        ("", "en", "ltr", "Sign in"),
    ],
)
def test_before_sign_in_the_browser_language_applies(
    client: TestClient, header: str, lang: str, direction: str, button: str
) -> None:
    page = client.get("/login", headers={"Accept-Language": header})
    assert HTML_TAG.findall(page.text) == [(lang, direction)]
    assert page.headers["content-language"] == lang
    assert f'<button type="submit">{button}</button>' in page.text


def _choose(client: TestClient, lang: str, next_path: str = "/login") -> str:
    (token,) = set(CSRF_RE.findall(client.get("/login").text))
    response = client.post(
        "/language",
        data={"lang": lang, "next": next_path, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    return str(response.headers["location"])


def test_the_language_menu_sets_a_cookie_that_beats_the_browser(client: TestClient) -> None:
    assert _choose(client, "es") == "/login"
    page = client.get("/login", headers={"Accept-Language": "fr"})
    assert HTML_TAG.findall(page.text) == [("es", "ltr")]
    cookie = client.cookies.get(i18n.COOKIE)
    assert cookie == "es"


def test_the_language_menu_refuses_an_unknown_language_and_foreign_redirects(
    client: TestClient,
) -> None:
    (token,) = set(CSRF_RE.findall(client.get("/login").text))
    bad = client.post("/language", data={"lang": "xx", "csrf_token": token})
    assert bad.status_code == 422
    assert bad.json()["detail"] == "unknown language 'xx'; choose one of en, fr, es, ar"
    assert bad.json()["field"] == "lang"
    forged = client.post("/language", data={"lang": "fr", "csrf_token": "forged"})
    assert forged.status_code == 403
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        assert _choose(client, "fr", target) == "/"


def _sign_in(client: TestClient, user: User) -> None:
    (token,) = set(CSRF_RE.findall(client.get("/login").text))
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


def test_a_signed_in_user_s_choice_is_kept_on_the_account(
    session: Session, client: TestClient
) -> None:
    user = account_factory.user(session)
    assert user.locale is None
    _sign_in(client, user)
    # No choice yet: the browser's language.
    assert HTML_TAG.findall(client.get("/", headers={"Accept-Language": "fr"}).text) == [
        ("fr", "ltr")
    ]
    assert _choose(client, "ar", "/search?q=x") == "/search?q=x"
    session.refresh(user)
    assert user.locale == "ar"
    entries = session.scalars(
        select(AuditEntry.details).where(
            AuditEntry.action == "user.locale", AuditEntry.target_id == str(user.id)
        )
    ).all()
    assert entries == [{"from": None, "to": "ar"}]
    # The account's choice beats both the browser and a cookie left by another choice.
    client.cookies.set(i18n.COOKIE, "es")
    page = client.get("/", headers={"Accept-Language": "fr"})
    assert HTML_TAG.findall(page.text) == [("ar", "rtl")]
    assert "لوحة المتابعة" in page.text
    assert '<option value="ar" lang="ar" selected>العربية</option>' in page.text


@pytest.mark.parametrize(
    ("lang", "heading", "search"),
    [
        ("fr", "Contenu de la plateforme", "Recherche"),
        ("es", "Contenido de la plataforma", "Búsqueda"),
        ("ar", "محتوى المنصة", "بحث"),
    ],
)
def test_the_dashboard_and_search_in_each_language(
    session: Session, client: TestClient, lang: str, heading: str, search: str
) -> None:
    user = account_factory.user(session)
    user.locale = lang
    session.flush()
    _sign_in(client, user)
    dashboard = client.get("/").text
    assert f'<h2 id="h-platform">{heading}</h2>' in dashboard
    page = client.get("/search").text
    assert f"<h1>{search}</h1>" in page
    # No English left in the menu.
    for english in ("Dashboard", "Sign out", "Look up a value"):
        assert f">{english}<" not in dashboard


def test_a_failed_sign_in_is_explained_in_the_browser_language(
    session: Session, client: TestClient
) -> None:
    user = account_factory.user(session)
    (token,) = set(CSRF_RE.findall(client.get("/login").text))
    response = client.post(
        "/login",
        data={"email": user.email, "password": "Wrong-Password-99", "csrf_token": token},
        headers={"Accept-Language": "fr"},
    )
    assert response.status_code == 401
    assert '<p class="error" role="alert">courriel, mot de passe ou code incorrect</p>' in (
        response.text
    )
