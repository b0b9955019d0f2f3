"""Tests for free-text observable extraction: golden texts, behaviour rules and properties."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cyberfusion.observable.extract import Extracted, extract
from cyberfusion.observable.normalize import normalise_typed
from cyberfusion.observable.types import ObservableType as T
from tests.observable.test_normalize import observables

GOLDEN = Path(__file__).parent / "golden" / "text"
CASES = sorted(path.stem for path in GOLDEN.glob("*.in"))


def test_there_are_at_least_eight_golden_cases() -> None:
    assert len(CASES) >= 8
    assert all((GOLDEN / f"{case}.expected").is_file() for case in CASES)


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    text = (GOLDEN / f"{case}.in").read_text(encoding="utf-8")
    expected = json.loads((GOLDEN / f"{case}.expected").read_text(encoding="utf-8"))
    found = extract(text)
    assert [{"type": item.obs_type.value, "value": item.value} for item in found] == expected
    # Offsets always point at the raw text as written, defanged or not.
    assert [text[item.start : item.end] for item in found] == [item.raw for item in found]


def _pairs(text: str) -> list[tuple[str, str]]:
    return [(item.obs_type.value, item.value) for item in extract(text)]


def test_extracted_is_frozen_and_carries_original_offsets() -> None:
    text = "C2: hxxps://evil[.]example[.]com/gate and backup evil [.] example [.] net."
    found = extract(text)
    assert found == [
        Extracted(
            obs_type=T.URL,
            value="https://evil.example.com/gate",
            raw="hxxps://evil[.]example[.]com/gate",
            start=4,
            end=37,
        ),
        Extracted(
            obs_type=T.DOMAIN,
            value="evil.example.com",
            raw="evil[.]example[.]com",
            start=12,
            end=32,
        ),
        Extracted(
            obs_type=T.DOMAIN,
            value="evil.example.net",
            raw="evil [.] example [.] net",
            start=49,
            end=73,
        ),
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        found[0].value = "changed"  # type: ignore[misc]


def test_duplicates_keep_first_occurrence_order() -> None:
    text = "evil.example.net then 198.51.100.7 then EVIL.example.net and evil[.]example[.]net"
    found = extract(text)
    assert [(item.value, item.start) for item in found] == [
        ("evil.example.net", 0),
        ("198.51.100.7", 22),
    ]


def test_empty_text() -> None:
    assert extract("") == []


@pytest.mark.parametrize(
    "text",
    [
        "Upgrade to version 1.2.3.4 today.",
        "Fixed in build 10.0.19041.1 and v. 2.0.1.7.",
        "Affected versions 1.1.0.9, 1.2.0.15 and 1.3.0.2 of the agent.",
        "Firmware: 4.10.2.11 is the last release.",
        "The tag 1.2.3.4.5 is a nightly.",
        "v1.2.3.4 and r5.6.7.8-beta",
    ],
)
def test_version_numbers_are_not_ip_addresses(text: str) -> None:
    assert extract(text) == []


def test_ip_after_version_list_context_only() -> None:
    text = "Version 2.0.0.1 talks to 198.51.100.7 and 1.2.3.4."
    assert _pairs(text) == [("ipv4-addr", "198.51.100.7"), ("ipv4-addr", "1.2.3.4")]


@pytest.mark.parametrize(
    "text",
    [
        "Open invoice.pdf, setup.exe, report.docx and archive.zip.",
        "Run setup.py, read README.md, source run.sh, load libcrypto.so, play trailer.mov.",
        "Abbreviations: e.g. i.e. etc. U.S. U.K. a.m. p.m. Ph.D.",
        "End of a sentence.Next one starts; System.Net and Foo::Bar.new are code.",
        "Dates 12.05.2023 and 2023-05-12, times 12:30:45, pi 3.14159.",
    ],
)
def test_no_false_positives(text: str) -> None:
    assert extract(text) == []


def test_file_extension_tld_needs_scheme_or_www() -> None:
    text = "files.zip vs www.files.zip vs https://files.zip/a"
    assert _pairs(text) == [
        ("domain-name", "www.files.zip"),
        ("url", "https://files.zip/a"),
        ("domain-name", "files.zip"),
    ]


def test_url_and_host_are_both_reported_but_not_its_path_parts() -> None:
    text = "Go to https://user@login.example.com:8443/r?to=other.example.org&mail=a@example.net ."
    assert _pairs(text) == [
        ("url", "https://user@login.example.com:8443/r?to=other.example.org&mail=a@example.net"),
        ("domain-name", "login.example.com"),
    ]


def test_hash_inside_url_is_reported() -> None:
    digest = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
    text = f"(https://www.virustotal.com/gui/file/{digest})."
    assert _pairs(text) == [
        ("url", f"https://www.virustotal.com/gui/file/{digest}"),
        ("domain-name", "www.virustotal.com"),
        ("sha256", digest),
    ]


def test_url_trailing_punctuation_and_brackets() -> None:
    text = (
        "See (https://en.wikipedia.org/wiki/Foo_(bar)), [http://example.com/x]. "
        "and <http://example.org/y>; 'http://example.net/z'"
    )
    assert [value for kind, value in _pairs(text) if kind == "url"] == [
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "http://example.com/x",
        "http://example.org/y",
        "http://example.net/z",
    ]


def test_schemeless_url_gets_http() -> None:
    assert _pairs("beacon to evil.example.com/gate.php?id=7, then stop") == [
        ("url", "http://evil.example.com/gate.php?id=7"),
        ("domain-name", "evil.example.com"),
    ]


def test_email_and_its_domain() -> None:
    assert _pairs("From: Billing <billing+ref@Evil-Corp.example.COM>") == [
        ("email-addr", "billing+ref@evil-corp.example.com"),
        ("domain-name", "evil-corp.example.com"),
    ]


def test_hash_lengths_and_runs() -> None:
    md5 = "44d88612fea8a8f36de82e1278abb02f"
    text = (
        f"md5={md5.upper()} long={md5}ab short={md5[:-1]} decimal={'1' * 32} "
        f"name={md5}.exe label {md5}.example.ru"
    )
    assert _pairs(text) == [("md5", md5), ("domain-name", f"{md5}.example.ru")]


def test_cve_forms() -> None:
    text = "CVE-2021-44228, cve-2014-0160, CVE\u20112019\u201111510, CVE-2024-123, XCVE-2020-1234"
    assert _pairs(text) == [
        ("cve", "CVE-2021-44228"),
        ("cve", "CVE-2014-0160"),
        ("cve", "CVE-2019-11510"),
    ]


def test_wallet_checksums_are_verified() -> None:
    text = (
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb "
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD "
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00"
    )
    assert _pairs(text) == [
        ("btc-address", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        ("eth-address", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
    ]


def test_phone_numbers_only_in_international_form() -> None:
    text = "Call +44 20 7946 0958, 0033 1 23 45 67 89 or 020 7946 0958; fax +1 555 0100."
    assert _pairs(text) == [("phone-number", "+442079460958"), ("phone-number", "+33123456789")]


def test_phone_number_followed_by_other_digits() -> None:
    assert _pairs("ring +44 20 7946 0958 2023 edition") == [("phone-number", "+442079460958")]


def test_iban_followed_by_uppercase_word_and_inside_no_phone() -> None:
    text = "Pay DE89 3704 0044 0532 0130 00 EUR 500 or GB29NWBK60161331926819."
    assert _pairs(text) == [
        ("iban", "DE89370400440532013000"),
        ("iban", "GB29NWBK60161331926819"),
    ]


def test_ipv6_and_mapped_ipv4() -> None:
    text = "From 2001:DB8::1, ::ffff:198.51.100.7 and 2001:db8::/32; not 12:30:45 or ::."
    assert _pairs(text) == [
        ("ipv6-addr", "2001:db8::1"),
        ("ipv4-addr", "198.51.100.7"),
        ("ipv6-addr", "2001:db8::/32"),
    ]


def test_cidr_host_bits_are_normalised() -> None:
    assert _pairs("range 203.0.113.77/24 and host 198.51.100.7:8080") == [
        ("ipv4-addr", "203.0.113.0/24"),
        ("ipv4-addr", "198.51.100.7"),
    ]


def test_hostname_with_ip_prefix_is_a_domain() -> None:
    assert _pairs("ptr 233.20.168.184.host.example.net seen") == [
        ("domain-name", "233.20.168.184.host.example.net")
    ]


# --------------------------------------------------------------------------- properties

_PROSE_TYPES = frozenset(T) - {T.URL, T.ASN}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(observables().filter(lambda item: item[0] in _PROSE_TYPES), st.sampled_from(["", ".", ","]))
def test_value_embedded_in_prose_is_found(item: tuple[T, str], punctuation: str) -> None:
    obs_type, raw = item
    canonical_type, value = normalise_typed(obs_type, raw)
    if canonical_type in (T.DOMAIN, T.EMAIL):
        # A file-extension TLD needs "www."; the generator uses none of those TLDs.
        embedded = value
    elif canonical_type is T.IPV6 and value in ("::", "::/0"):
        return  # the unspecified address is never reported from prose
    elif canonical_type in (T.MD5, T.SHA1, T.SHA256, T.SHA512):
        # Documented rule: a digest has both a digit and a letter (no all-zero "hashes").
        assume(any(c.isdigit() for c in value) and any(c.isalpha() for c in value))
        embedded = raw
    elif canonical_type is T.IBAN:
        # In prose an IBAN is found only in capitals, as banks print it, grouped or not.
        embedded = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    else:
        embedded = raw.strip()
    text = f"Analysts saw {embedded}{punctuation} in the logs (TLP:AMBER)."
    assert (canonical_type, value) in {(found.obs_type, found.value) for found in extract(text)}


# --------------------------------------------------------------------------- unicode and scripts


def _full_width(text: str) -> str:
    """ASCII as typed with a Chinese or Japanese input method (U+FF01 to U+FF5E)."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


def test_zero_width_characters_are_skipped_and_offsets_keep_them() -> None:
    text = "see ev\u200bil-domain.com now"
    assert extract(text) == [
        Extracted(
            obs_type=T.DOMAIN,
            value="evil-domain.com",
            raw="ev\u200bil-domain.com",
            start=4,
            end=20,
        )
    ]


def test_chinese_text_without_spaces_ends_observables_at_the_script_change() -> None:
    text = "请访问evil-update.com下载\uff0c服务器IP为103.45.67.89。"
    found = extract(text)
    assert [(item.obs_type, item.value, item.raw, item.start) for item in found] == [
        (T.DOMAIN, "evil-update.com", "evil-update.com", 3),
        (T.IPV4, "103.45.67.89", "103.45.67.89", 27),
    ]


def test_url_stops_at_full_width_punctuation_and_chinese() -> None:
    assert _pairs("链接\uff1ahttps://icbc-verify.cn/login\uff0c请勿点击") == [
        ("url", "https://icbc-verify.cn/login"),
        ("domain-name", "icbc-verify.cn"),
    ]


def test_full_width_and_ideographic_dots() -> None:
    shop = _full_width("evil-shop.com")
    text = f"admin\uff20evil-mail.com, evil。example。com, {shop}; 完成。下一步"
    found = extract(text)
    assert [(item.obs_type.value, item.value, item.raw) for item in found] == [
        ("email-addr", "admin@evil-mail.com", "admin\uff20evil-mail.com"),
        ("domain-name", "evil-mail.com", "evil-mail.com"),
        ("domain-name", "evil.example.com", "evil。example。com"),
        ("domain-name", "evil-shop.com", shop),
    ]


def test_bare_dot_word_is_refanged_only_between_host_labels() -> None:
    text = "the dot com bubble is over; avoid secure-update dot com"
    assert extract(text) == [
        Extracted(
            obs_type=T.DOMAIN,
            value="secure-update.com",
            raw="secure-update dot com",
            start=34,
            end=55,
        )
    ]


# --------------------------------------------------------------------------- precision rules


@pytest.mark.parametrize(
    "text",
    [
        "Fixed in 9.16.3.19 or later and 9.18.2.5 and later.",
        "User-Agent: Chrome/120.0.0.0 Safari/537.36; Server: PHP/8.1.2.1",
        "See section 4.2.1.3, clause 5.1.1.2, OID 2.5.4.3 and recommendations 1.1.1.1 and 1.1.1.2.",
        "versión 2.4.1.8, версия 2.4.1.10, 版本2.4.1.11",
    ],
)
def test_more_version_contexts(text: str) -> None:
    assert extract(text) == []


def test_squid_hierarchy_code_before_an_address_is_not_a_product() -> None:
    assert _pairs("TCP_MISS/200 HIER_DIRECT/185.215.113.66 -") == [("ipv4-addr", "185.215.113.66")]


def test_address_followed_by_a_path_is_also_a_url_but_a_netmask_is_not() -> None:
    assert _pairs("get 203.0.113.99/p.sh and 198.51.100.0/255.255.255.0") == [
        ("url", "http://203.0.113.99/p.sh"),
        ("ipv4-addr", "203.0.113.99"),
        ("ipv4-addr", "198.51.100.0"),
        ("ipv4-addr", "255.255.255.0"),
    ]


def test_ipv6_with_zone_index_is_not_reported() -> None:
    assert _pairs("fe80::1ff:fe23:4567:890a%eth0 and 2001:db8::5") == [("ipv6-addr", "2001:db8::5")]


def test_file_extension_tlds_files_and_hosts() -> None:
    text = (
        "Terminal.app, Invoice.pdf.zip, app.bundle.js.map, main.rs, coin-zilla.app, "
        "cute-pudding-05af50.netlify.app, easy-blue-tick.surge.sh, dental.simptomi.rs"
    )
    assert [value for _, value in _pairs(text)] == [
        "coin-zilla.app",
        "cute-pudding-05af50.netlify.app",
        "easy-blue-tick.surge.sh",
        "dental.simptomi.rs",
    ]


def test_code_and_identifiers_versus_hosts() -> None:
    text = (
        "logger.info(x); self.name; com.apple.security; io.netty.channel; ASP.NET; Dr.med.vet.; "
        "sys.usapappers.com; io.withlincolnproductions.com; gov.in.crsa.site; "
        "gov.verifycertificate.co.in"
    )
    assert [value for _, value in _pairs(text)] == [
        "sys.usapappers.com",
        "io.withlincolnproductions.com",
        "gov.in.crsa.site",
        "gov.verifycertificate.co.in",
    ]


def test_identifier_context_before_a_32_digit_hex_run() -> None:
    md5 = "3f2504e04f8911d39a0c0305e82c3301"
    sha256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
    text = f"Request ID: {md5}, session id={md5.upper()}; sample id: {sha256}; MD5: {md5}"
    assert _pairs(text) == [("sha256", sha256), ("md5", md5)]


def test_defanged_upper_case_scheme_keeps_https() -> None:
    assert _pairs("HXXPS://CDN-EVIL[.]NET/DL/A.BIN") == [
        ("url", "https://cdn-evil.net/DL/A.BIN"),
        ("domain-name", "cdn-evil.net"),
    ]


def test_repeated_names_are_normalised_once_and_reported_once() -> None:
    text = " ".join(["beacon to cdn-update-check.net"] * 50)
    assert extract(text) == [
        Extracted(
            obs_type=T.DOMAIN,
            value="cdn-update-check.net",
            raw="cdn-update-check.net",
            start=10,
            end=30,
        )
    ]
