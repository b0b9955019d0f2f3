"""Tests for the STIX pattern fast path, observable extraction and pattern building."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2patterns.validator import run_validator

from cyberfusion.observable.types import ObservableType
from cyberfusion.stix import patterns
from cyberfusion.stix.patterns import check_pattern, observables_in, pattern_for

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
GOLDEN = Path(__file__).parents[1] / "intake" / "golden"


def antlr_verdict(pattern: str) -> bool:
    """True when the stix2-patterns ANTLR validator accepts `pattern` (a crash counts as no)."""
    try:
        return run_validator(pattern) == []
    except Exception:
        return False


@pytest.fixture
def no_antlr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails the test if check_pattern falls back to the ANTLR validator."""

    def refuse(*args: object, **kwargs: object) -> list[str]:
        raise AssertionError("the ANTLR validator was called")

    monkeypatch.setattr("stix2patterns.validator.run_validator", refuse)


@pytest.mark.parametrize(
    "pattern",
    [
        "[ipv4-addr:value = '198.51.100.1']",
        "[ipv4-addr:value = '198.51.100.1' OR ipv4-addr:value = '198.51.100.2']",
        "[domain-name:value = 'example.com'] OR [url:value = 'http://example.com/a\\'b']",
        f"[file:hashes.MD5 = '{MD5}' AND file:hashes.'SHA-1' = '{SHA1}']",
        f"[file:hashes.SHA256 = '{SHA256}']",
        "  [email-message:from_ref.value = 'a@example.com']\n",
        "[autonomous-system:number = 64500]",
        "[x-foo:'odd name'.list[*] = '']",
    ],
)
def test_common_shapes_are_accepted_without_antlr(pattern: str, no_antlr: None) -> None:
    assert check_pattern(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (
            "[file:hashes.'SHA-256' = 'abc']",
            "'abc' is not a valid SHA-256 hash",
        ),
        (
            "[ipv4-addr:value = '1.2.3.4' and ipv4-addr:value = '5.6.7.8']",
            "Error found at line 1:29. mismatched input 'and' expecting ']'",
        ),
        (
            "ipv4-addr:value = '1.2.3.4'",
            "Error found at line 1:0. input is missing square brackets; "
            "Error found at line 1:0. mismatched input 'ipv4-addr' expecting {'(', '['}",
        ),
        (
            "[file:hashes[0] = 'abc']",
            "pattern could not be checked: AttributeError: 'int' object has no attribute 'upper'",
        ),
    ],
)
def test_invalid_patterns_report_the_validator_reason(pattern: str, reason: str) -> None:
    assert check_pattern(pattern) == reason


@pytest.mark.parametrize(
    "pattern",
    [
        "[ipv4-addr:value = '1.2.3.4'] WITHIN 300 SECONDS",
        "[file:name LIKE 'inv%.exe'] FOLLOWEDBY [process:name = 'x']",
        "([ipv4-addr:value != '1.2.3.4'])",
        "[network-traffic:dst_port IN (80, 443)]",
    ],
)
def test_other_valid_shapes_go_to_antlr_and_pass(pattern: str) -> None:
    assert patterns._fast_accepts(pattern) is False
    assert check_pattern(pattern) is None


def test_stix_20_patterns_use_the_20_grammar() -> None:
    assert check_pattern("[file:name = 'a.exe']", stix_version="2.0") is None
    assert check_pattern("[file:name = 'a.exe'", stix_version="2.0") == (
        "Error found at line 1:20. missing ']' at '<EOF>'"
    )


def test_a_non_string_pattern_is_refused() -> None:
    assert check_pattern(42) == "pattern must be a string, not int"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (f"[file:hashes.MD5 = '{MD5}']", [(ObservableType.MD5, MD5)]),
        (f"[file:hashes.'MD5' = '{MD5}']", [(ObservableType.MD5, MD5)]),
        (f"[file:hashes.'SHA-256' = '{SHA256}']", [(ObservableType.SHA256, SHA256)]),
        (f"[file:hashes.SHA256 = '{SHA256}']", [(ObservableType.SHA256, SHA256)]),
        (f"[file:hashes.'sha-1' = '{SHA1}']", [(ObservableType.SHA1, SHA1)]),
        (
            "[ipv4-addr:value = '10.0.0.0/8' OR domain-name:value = 'evil.example'] "
            "AND [url:value = 'http://x.example/it\\'s']",
            [
                (ObservableType.IPV4, "10.0.0.0/8"),
                (ObservableType.DOMAIN, "evil.example"),
                (ObservableType.URL, "http://x.example/it's"),
            ],
        ),
        (
            "[ipv4-addr:value = '1.1.1.1'] WITHIN 60 SECONDS",
            [(ObservableType.IPV4, "1.1.1.1")],
        ),
        ("[autonomous-system:number = 64500]", [(ObservableType.ASN, "64500")]),
        ("[vulnerability:name = 'CVE-2021-44228']", [(ObservableType.CVE, "CVE-2021-44228")]),
        (
            "[x-cryptocurrency-wallet:value = '0x52908400098527886E0F7030069857D2E4169EE7']",
            [(ObservableType.ETH, "0x52908400098527886E0F7030069857D2E4169EE7")],
        ),
    ],
)
def test_observables_in_reads_equality_tests(
    pattern: str, expected: list[tuple[ObservableType, str]]
) -> None:
    assert observables_in(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        "[ipv4-addr:value != '1.1.1.1']",
        "[ipv4-addr:value NOT = '1.1.1.1']",
        "[url:value LIKE 'http://%']",
        "[ipv4-addr:value IN ('1.1.1.1', '2.2.2.2')]",
        "[file:name = 'x.exe']",
        "[x-cryptocurrency-wallet:value = 'not-an-address']",
        "[process:pid = 4]",
    ],
)
def test_observables_in_ignores_other_tests(pattern: str) -> None:
    assert check_pattern(pattern) is None
    assert observables_in(pattern) == []


def test_observables_in_refuses_text_that_is_not_a_pattern() -> None:
    with pytest.raises(ValueError, match="cannot read the pattern at character 7"):
        observables_in("[a:b = 'unterminated]")


def test_pattern_for_escapes_quotes_and_backslashes() -> None:
    assert pattern_for(ObservableType.URL, "http://a.example/it's\\x") == (
        "[url:value = 'http://a.example/it\\'s\\\\x']"
    )
    assert pattern_for(ObservableType.SHA256, SHA256) == f"[file:hashes.'SHA-256' = '{SHA256}']"
    assert pattern_for(ObservableType.ASN, "64500") == "[autonomous-system:number = 64500]"
    assert pattern_for(ObservableType.ASN, "AS64500") == "[autonomous-system:number = 64500]"


@pytest.mark.parametrize(
    ("obs_type", "value", "message"),
    [
        (ObservableType.ASN, "AS-1", "autonomous-system number 'AS-1' is not a decimal"),
        (ObservableType.ASN, "0123", "autonomous-system number '0123' is not a decimal"),
        (ObservableType.BTC, "0x" + "a" * 40, "does not have the shape of a btc-address"),
    ],
)
def test_pattern_for_refuses_values_it_cannot_express(
    obs_type: ObservableType, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        pattern_for(obs_type, value)


# ---------------------------------------------------------------------------------------------
# Properties

_LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,12}[a-z0-9])?", fullmatch=True)
_DOMAINS = st.lists(_LABEL, min_size=2, max_size=4).map(".".join)
_BASE58 = "[1-9A-HJ-NP-Za-km-z]"
VALUES: dict[ObservableType, st.SearchStrategy[str]] = {
    ObservableType.IPV4: st.one_of(
        st.ip_addresses(v=4).map(str),
        st.tuples(st.ip_addresses(v=4), st.integers(0, 32)).map(lambda t: f"{t[0]}/{t[1]}"),
    ),
    ObservableType.IPV6: st.ip_addresses(v=6).map(str),
    ObservableType.DOMAIN: _DOMAINS,
    ObservableType.URL: st.tuples(_DOMAINS, st.text(max_size=40)).map(
        lambda t: f"http://{t[0]}/{t[1]}"
    ),
    ObservableType.EMAIL: st.tuples(
        st.from_regex(r"[a-z0-9.'_+\\-]{1,20}", fullmatch=True), _DOMAINS
    ).map("@".join),
    ObservableType.MD5: st.from_regex(r"[0-9a-fA-F]{32}", fullmatch=True),
    ObservableType.SHA1: st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
    ObservableType.SHA256: st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    ObservableType.SHA512: st.from_regex(r"[0-9a-f]{128}", fullmatch=True),
    ObservableType.CVE: st.from_regex(r"CVE-(19|20)\d\d-\d{4,7}", fullmatch=True),
    ObservableType.BTC: st.from_regex(
        rf"[13]{_BASE58}{{25,34}}|bc1[02-9ac-hj-np-z]{{6,87}}", fullmatch=True
    ),
    ObservableType.ETH: st.from_regex(r"0x[0-9a-fA-F]{40}", fullmatch=True),
    ObservableType.XMR: st.from_regex(rf"[48]{_BASE58}{{94}}", fullmatch=True),
    ObservableType.PHONE: st.from_regex(r"\+[1-9]\d{6,14}", fullmatch=True),
    ObservableType.IBAN: st.from_regex(r"[A-Z]{2}\d\d[A-Z0-9]{11,30}", fullmatch=True),
    ObservableType.ASN: st.integers(0, 4_294_967_295).map(str),
}


def test_every_observable_type_has_a_value_strategy() -> None:
    assert set(VALUES) == set(ObservableType)


@given(data=st.data(), obs_type=st.sampled_from(sorted(ObservableType)))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_pattern_for_round_trips(data: st.DataObject, obs_type: ObservableType) -> None:
    value = data.draw(VALUES[obs_type])
    pattern = pattern_for(obs_type, value)
    assert observables_in(pattern) == [(obs_type, value)]
    assert patterns._fast_accepts(pattern) is True
    assert check_pattern(pattern) is None
    assert antlr_verdict(pattern) is True


# Each slot of a generated pattern takes a good option, or now and then one that breaks it.
TYPES = (["ipv4-addr", "file", "url", "x-foo-bar", "a", "x-"], ["AND", "true", "1abc", "ip v4", ""])
PATHS = (
    ["value", "'value'", "a.b[*].c", "a[0]", "start", "x_y", "name"],
    ["a[-1]", "hashes.SHA-256", "value.", ".value", "true", "IN", "va lue", "", "hashes.MD5"],
)
OPERATORS = (["=", "=", "=", "==", " = "], ["!=", "= =", "", "LIKE", "<"])
TEXT = "<text>"  # stands for a freshly generated, properly escaped string literal
LITERALS = (
    [TEXT, TEXT, TEXT, TEXT, "'it\\'s'", "'back\\\\'", "42", "0", "''"],
    ["'bad\\'", "'un'quoted'", "'open", "042", "-1", "1.5", "true", "h'ff'"],
)
HASH_TESTS = (
    [
        f"file:hashes.MD5 = '{MD5}'",
        f"file:hashes.MD5='{MD5}\n'",
        f"file:hashes.'SHA-256' = '{SHA256}'",
        f"x-foo:hashes.SHA1 == '{SHA1}'",
        "file:hashes.'SSDEEP' = '3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C'",
        "file:hashes.'TLSH' = 'anything'",
    ],
    [
        f"file:hashes.MD5 = '{SHA1}'",
        "file:hashes.'SHA-256' = 'it\\'s'",
        f"file:hashes.MD6 = '{MD5}'",
        "file:hashes.SHA1 = 42",
    ],
)
INNER_JOINERS = ([" AND ", " OR ", "\tOR\n"], [" and ", "AND ", " AND", " FOLLOWEDBY "])
OUTER_JOINERS = ([" AND ", " OR ", "OR", " AND ", " OR ", " FOLLOWEDBY "], [" ", " OR ["])
SPACES = (["", "", "", "", "", " ", " ", " ", "\t", "\n", "\u00a0", "/* c */"], ["/*", "//"])
BRACKETS = ([("[", "]")], [("", "]"), ("[", ""), ("[[", "]")])
BREAK = [False] * 24 + [True]
COUNTS = [1, 1, 1, 2, 2, 3]


def build_pattern(
    choose: Callable[[Sequence[Any]], Any],
    text: Callable[[], str],
) -> str:
    """A pattern near the fast-path shapes: mostly valid, sometimes broken in a small way."""

    def pick(options: tuple[list[Any], list[Any]]) -> Any:
        return choose(options[1] if choose(BREAK) else options[0])

    def literal() -> str:
        chosen: str = pick(LITERALS)
        if chosen != TEXT:
            return chosen
        return "'" + text().replace("\\", "\\\\").replace("'", "\\'") + "'"

    def comparison() -> str:
        if choose([True, False, False]):
            return str(pick(HASH_TESTS))
        return (
            f"{pick(TYPES)}:{pick(PATHS)}{pick(SPACES)}{pick(OPERATORS)}{pick(SPACES)}{literal()}"
        )

    observations = []
    for _ in range(choose(COUNTS)):
        inner = comparison()
        for _ in range(choose(COUNTS) - 1):
            inner += pick(INNER_JOINERS) + comparison()
        opening, closing = pick(BRACKETS)
        observations.append(f"{opening}{pick(SPACES)}{inner}{pick(SPACES)}{closing}")
    pattern = observations[0]
    for observation in observations[1:]:
        pattern += pick(OUTER_JOINERS) + observation
    return pick(SPACES) + pattern + pick(SPACES)


@st.composite
def simple_patterns(draw: st.DrawFn) -> str:
    return build_pattern(
        lambda options: draw(st.sampled_from(options)),
        lambda: draw(st.text(max_size=12)),
    )


@given(pattern=simple_patterns())
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_path_agrees_with_antlr(pattern: str) -> None:
    expected = antlr_verdict(pattern)
    if patterns._fast_accepts(pattern):
        assert expected is True, f"fast path accepted a pattern ANTLR rejects: {pattern!r}"
    if one_comparison_accepts(pattern):
        assert patterns._fast_accepts(pattern), f"outside the scanner's shapes: {pattern!r}"
    assert (check_pattern(pattern) is None) is expected


def one_comparison_accepts(pattern: str) -> bool:
    """Whether check_pattern's first test, the one-comparison expression, accepts `pattern`."""
    match = patterns._ONE_COMPARISON.fullmatch(pattern)
    return match is not None and patterns._hash_value_ok(match.group(1), match.group(2))


def golden_patterns() -> list[str]:
    """Every `pattern` string in the intake golden files (inputs and expected outputs)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in sorted(GOLDEN.rglob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def test_golden_file_patterns_get_the_same_verdict_on_every_path() -> None:
    corpus = golden_patterns()
    assert len(corpus) >= 80
    for pattern in corpus:
        expected = antlr_verdict(pattern)
        assert (check_pattern(pattern) is None) is expected, pattern
        if patterns._fast_accepts(pattern):
            assert expected, pattern
        if one_comparison_accepts(pattern):
            assert patterns._fast_accepts(pattern), pattern
    # The golden files hold the common shape: the one-comparison test decides most of them.
    assert sum(one_comparison_accepts(pattern) for pattern in corpus) >= 60


@pytest.mark.parametrize(
    ("pattern", "accepted"),
    [
        ("[ipv4-addr:value = '198.51.100.1']", True),
        (f"[file:hashes.'SHA-256' = '{SHA256}']", True),
        (f"[file:hashes.MD5 = '{SHA256}']", False),  # ANTLR checks the hash's length
        ("[ipv4-addr:value = 'it\\'s']", True),
        ("[ipv4-addr:value = 'a' AND ipv4-addr:value = 'b']", False),  # the scanner's case
        ("[ipv4-addr:value  = 'a']", False),
        ("[AND:value = 'a']", False),  # a keyword is not a type
        ("[ipv4-addr:value = 'a'] ", False),
    ],
)
def test_the_one_comparison_shape(pattern: str, accepted: bool) -> None:
    assert one_comparison_accepts(pattern) is accepted
    if accepted:
        assert antlr_verdict(pattern)


def test_a_seeded_corpus_agrees_and_exercises_both_verdicts() -> None:
    """The same generator, seeded: the agreement is only meaningful if both sides come up."""
    rng = random.Random(20240301)
    alphabet = "ab' \\\u00e9\u4e2d\U0001f600\n]["

    corpus = [
        build_pattern(
            rng.choice,
            lambda: "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))),
        )
        for _ in range(400)
    ]
    verdicts = [antlr_verdict(pattern) for pattern in corpus]
    fast = [patterns._fast_accepts(pattern) for pattern in corpus]
    assert [check_pattern(pattern) is None for pattern in corpus] == verdicts
    assert all(verdict for verdict, quick in zip(verdicts, fast, strict=True) if quick)
    single = [one_comparison_accepts(pattern) for pattern in corpus]
    assert all(quick for quick, one in zip(fast, single, strict=True) if one)
    assert sum(fast) >= 40
    assert 40 <= sum(verdicts) <= 360
