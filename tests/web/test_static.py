"""The stylesheet's colours meet WCAG 2.1 AA contrast; htmx is served from here, pinned."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import pytest

STATIC = resources.files("cyberfusion.web").joinpath("static")
# Text colour, background colour: every pair the stylesheet puts together.
PAIRS = [
    ("--fg", "--bg"),
    ("--fg", "--card"),
    ("--muted", "--card"),
    ("--muted", "--bg"),
    ("--err", "--card"),
    ("--ok", "--card"),
    ("--accent", "--card"),
    ("#fff", "--accent"),  # header text and buttons
    ("--err", "#fdecea"),  # rejected rows
    ("--muted", "#eef4fb"),  # unread and current rows
    ("#8a4b00", "--card"),  # hidden-match warning
    ("#33ff00", "#000"),  # TLP badges, the colours of the TLP 2.0 standard
    ("#ffc000", "#000"),
    ("#ff2b2b", "#000"),
]


def _variables() -> dict[str, str]:
    css = STATIC.joinpath("app.css").read_text()
    root = re.search(r":root\s*{([^}]*)}", css)
    assert root is not None
    return dict(re.findall(r"(--[a-z-]+)\s*:\s*(#[0-9a-fA-F]{3,6})", root.group(1)))


def _luminance(colour: str) -> float:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_contrast_formula() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#777", "#fff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_meets_aa_contrast(text: str, background: str) -> None:
    colours = _variables()
    ratio = contrast(colours.get(text, text), colours.get(background, background))
    assert ratio >= 4.5, f"{text} on {background}: {ratio:.2f}:1"


def test_htmx_is_the_pinned_release() -> None:
    script = STATIC.joinpath("htmx.min.js").read_bytes()
    # htmx.org 2.0.11 from the npm registry (dist/htmx.min.js), BSD Zero Clause licence.
    assert hashlib.sha256(script).hexdigest() == (
        "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
    )
