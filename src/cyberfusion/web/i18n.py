"""Languages of the web UI: gettext catalogs compiled in memory, negotiation, locale formatting."""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from babel import Locale
from babel.core import negotiate_locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from fastapi import Request

DEFAULT = "en"
# Each language in its own name: a reader who does not know the current one still finds theirs.
LANGUAGES: dict[str, str] = {"en": "English", "fr": "Français", "es": "Español", "ar": "العربية"}
RIGHT_TO_LEFT = frozenset({"ar"})
COOKIE = "cyberfusion_locale"

_current: ContextVar[str] = ContextVar("cyberfusion_locale", default=DEFAULT)


def N_(message: str) -> str:  # the name pybabel extracts by convention
    """Mark a string for extraction; it is translated where it is shown."""
    return message


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of one language, compiled from its .po file the first time it is asked for.

    Compiling at run time means no build step that `make run` or CI could skip: the .po files
    under version control are the only source.
    """
    if lang == DEFAULT:
        return gettext.NullTranslations()
    path = resources.files("cyberfusion.web").joinpath(f"locale/{lang}/LC_MESSAGES/messages.po")
    with path.open("rb") as po:
        catalog = read_po(po, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def supported(lang: str | None) -> str | None:
    return lang if lang in LANGUAGES else None


def negotiate(request: Request, user_locale: str | None) -> str:
    """The user's choice, else the language cookie, else the browser's Accept-Language."""
    chosen = supported(user_locale) or supported(request.cookies.get(COOKIE))
    if chosen:
        return chosen
    preferred = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            preferred.append((quality, tag.replace("-", "_")))
    ordered = [tag for _, tag in sorted(preferred, key=lambda item: -item[0])]
    return negotiate_locale(ordered, list(LANGUAGES), sep="_") or DEFAULT


@contextmanager
def using(lang: str) -> Iterator[None]:
    """Render in `lang`: templates and `_()` read the language of the current context."""
    token = _current.set(lang)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> str:
    return _current.get()


def _(message: str) -> str:
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


def direction(lang: str) -> str:
    return "rtl" if lang in RIGHT_TO_LEFT else "ltr"


def format_number(value: Any) -> str:
    return str(format_decimal(value, locale=current()))


def format_share(value: float) -> str:
    """A share between 0 and 1 as a percentage in the reader's language ("33 %", "33%")."""
    return str(format_percent(value, locale=current()))


def format_when(value: datetime | str | None, fmt: str = "medium") -> str:
    """A date and time in the reader's language, in UTC (the platform's clock)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return str(format_datetime(value, format=fmt, tzinfo=None, locale=current()))


def locale_name(lang: str) -> str:
    return str(Locale.parse(lang).get_display_name(lang))


def country_names(lang: str, codes: Iterable[str]) -> dict[str, str]:
    """Country names in the reader's language (CLDR through Babel), the code where CLDR has none."""
    territories = Locale.parse(lang).territories
    return {code: str(territories.get(code, code)) for code in codes}
