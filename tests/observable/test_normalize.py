"""Tests for observable normalisation, type detection and refanging."""

from __future__ import annotations

import hashlib
import ipaddress

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cyberfusion.observable.normalize import (
    BASE58_ALPHABET,
    BECH32_CHARSET,
    BECH32_CONST,
    BECH32M_CONST,
    IBAN_LENGTHS,
    InvalidObservable,
    RefangEdit,
    _icann_rules,
    _psl,
    bech32_hrp_expand,
    bech32_polymod,
    detect,
    iban_remainder,
    is_known_tld,
    keccak256,
    known_tlds,
    map_offset,
    normalise,
    normalise_refanged,
    normalise_typed,
    refang,
    refang_spans,
)
from cyberfusion.observable.types import ObservableType as T

# --------------------------------------------------------------------------- encoders
# The inverse of the checkers, to build valid addresses for property tests.


def base58_encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, digit = divmod(number, 58)
        out = BASE58_ALPHABET[digit] + out
    leading = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading + out


def base58check(version: int, payload: bytes) -> str:
    body = bytes([version]) + payload
    checksum = hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4]
    return base58_encode(body + checksum)


def _to_5bit(data: bytes) -> list[int]:
    accumulator = 0
    bits = 0
    out: list[int] = []
    for byte in data:
        accumulator = (accumulator << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((accumulator >> bits) & 31)
    if bits:
        out.append((accumulator << (5 - bits)) & 31)
    return out


def segwit_address(version: int, program: bytes, hrp: str = "bc") -> str:
    data = [version, *_to_5bit(program)]
    const = BECH32_CONST if version == 0 else BECH32M_CONST
    polymod = bech32_polymod([*bech32_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32_CHARSET[value] for value in data + checksum)


def eip55(address_bytes: bytes) -> str:
    body = address_bytes.hex()
    digest = keccak256(body.encode("ascii")).hex()
    return "0x" + "".join(
        char.upper() if char.isalpha() and int(nibble, 16) >= 8 else char
        for char, nibble in zip(body, digest[:40], strict=True)
    )


def monero_address(prefix: int, keys: bytes) -> str:
    data = bytes([prefix]) + keys
    data += keccak256(data)[:4]
    out = ""
    for offset in range(0, len(data), 8):
        block = data[offset : offset + 8]
        size = {1: 2, 2: 3, 3: 5, 4: 6, 5: 7, 6: 9, 7: 10, 8: 11}[len(block)]
        number = int.from_bytes(block, "big")
        chars = ""
        for _ in range(size):
            number, digit = divmod(number, 58)
            chars = BASE58_ALPHABET[digit] + chars
        out += chars
    return out


def make_iban(country: str, bban: str) -> str:
    check = 98 - iban_remainder(country + "00" + bban)
    return f"{country}{check:02d}{bban}"


def test_encoders_reproduce_published_vectors() -> None:
    # Bitcoin genesis address, BIP 173 P2WPKH vector, EIP-55 vector, ISO 13616 example IBAN.
    genesis = bytes.fromhex("62e907b15cbf27d5425399ebf6f0fb50ebb88f18")
    assert base58check(0, genesis) == "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    program = bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")
    assert segwit_address(0, program) == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    eth = bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
    assert eip55(eth) == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    assert make_iban("DE", "370400440532013000") == "DE89370400440532013000"


# --------------------------------------------------------------------------- valid values

MONERO_GENERAL_FUND = (  # the Monero project's general fund, published on getmonero.org
    "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7Sq"
    "SsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
)
SHA512_EMPTY = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)

VALID = [
    (T.IPV4, "198.51.100.7", "198.51.100.7"),
    (T.IPV4, " 198.51.100.7\n", "198.51.100.7"),
    (T.IPV4, "203.0.113.0/24", "203.0.113.0/24"),
    (T.IPV4, "203.0.113.77/24", "203.0.113.0/24"),
    (T.IPV4, "198.51.100.7/32", "198.51.100.7"),
    (T.IPV4, "0.0.0.0/0", "0.0.0.0/0"),
    (T.IPV4, "198.51.100[.]7", "198.51.100.7"),
    (T.IPV6, "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
    (T.IPV6, "[2001:db8::1]", "2001:db8::1"),
    (T.IPV6, "2001:db8::1/32", "2001:db8::/32"),
    (T.IPV6, "2001:db8::1/128", "2001:db8::1"),
    (T.DOMAIN, "Example.COM.", "example.com"),
    (T.DOMAIN, "www.example.co.uk", "www.example.co.uk"),
    (T.DOMAIN, "Пример.РФ", "xn--e1afmkfd.xn--p1ai"),
    (T.DOMAIN, "xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai"),
    (T.DOMAIN, "bücher.de", "xn--bcher-kva.de"),
    (T.DOMAIN, "i❤.ws", "xn--i-7iq.ws"),
    (T.DOMAIN, "github.io", "github.io"),
    (T.DOMAIN, "shop.example.co.za", "shop.example.co.za"),
    (T.DOMAIN, "evil.github.io", "evil.github.io"),
    (T.DOMAIN, "_dmarc.example.com", "_dmarc.example.com"),
    (T.DOMAIN, "evil[.]example(.)com", "evil.example.com"),
    (T.URL, "HTTP://WWW.Example.COM:80", "http://www.example.com/"),
    (T.URL, "https://example.com:443/a?b=1#frag", "https://example.com/a?b=1"),
    (T.URL, "https://example.com:8443/", "https://example.com:8443/"),
    (
        T.URL,
        "http://example.com/%7euser/%2f%41?q=%e2%82%ac",
        "http://example.com/~user/%2FA?q=%E2%82%AC",
    ),
    (T.URL, "http://example.com/a b/ü", "http://example.com/a%20b/%C3%BC"),
    (T.URL, "http://example.com/100%", "http://example.com/100%25"),
    (T.URL, "http://example.com/?", "http://example.com/"),
    (T.URL, "http://example.com/?b=2&a=1", "http://example.com/?b=2&a=1"),
    (
        T.URL,
        "http://example.com/cgi-bin/.%2e/.%2e/bin/sh",
        "http://example.com/cgi-bin/../../bin/sh",
    ),
    (T.URL, "hxxps://evil[.]example[.]com/login", "https://evil.example.com/login"),
    (T.URL, "evil.example.com/gate.php", "http://evil.example.com/gate.php"),
    (T.URL, "198.51.100.7:4444", "http://198.51.100.7:4444/"),
    (T.URL, "http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
    (T.URL, "http://[::ffff:198.51.100.7]/", "http://198.51.100.7/"),
    (T.URL, "http://paypal.com@evil.example.com/", "http://paypal.com@evil.example.com/"),
    (T.URL, "https://пример.рф/путь", "https://xn--e1afmkfd.xn--p1ai/%D0%BF%D1%83%D1%82%D1%8C"),
    (T.URL, "ldap://198.51.100.7:1389/Basic/Command", "ldap://198.51.100.7:1389/Basic/Command"),
    (T.EMAIL, "John.Doe@Example.COM", "John.Doe@example.com"),
    (T.EMAIL, "mailto:billing+ref@evil.example.com", "billing+ref@evil.example.com"),
    (T.EMAIL, "user[at]evil[dot]com", "user@evil.com"),
    (T.EMAIL, "ÜSER@bücher.de", "ÜSER@xn--bcher-kva.de"),
    (T.MD5, "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"),
    (
        T.SHA1,
        "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    ),
    (
        T.SHA256,
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    (T.SHA512, SHA512_EMPTY.upper(), SHA512_EMPTY),
    (T.CVE, "cve-2021-44228", "CVE-2021-44228"),
    (T.CVE, "CVE\u20112014\u20110160", "CVE-2014-0160"),
    (T.CVE, "CVE-2024-1234567", "CVE-2024-1234567"),
    (T.PHONE, "+44 20 7946 0958", "+442079460958"),
    (T.PHONE, "0044 (0)20 7946 0958", "+442079460958"),
    (T.PHONE, "tel:+33-1-23-45-67-89", "+33123456789"),
    (T.PHONE, "+1 (202) 456-1111", "+12024561111"),
    (T.BTC, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    (T.BTC, "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
    (
        T.BTC,
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    ),
    (
        T.BTC,
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    ),
    (
        T.ETH,
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
    ),
    (
        T.ETH,
        "0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
    ),
    (T.XMR, MONERO_GENERAL_FUND, MONERO_GENERAL_FUND),
    (T.IBAN, "DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    (T.IBAN, "iban: gb29 nwbk 6016 1331 9268 19", "GB29NWBK60161331926819"),
    (T.IBAN, "NO93 8601 1117 947", "NO9386011117947"),
    (T.ASN, "AS13335", "AS13335"),
    (T.ASN, "as13335", "AS13335"),
    (T.ASN, "13335", "AS13335"),
    (T.ASN, "ASN 64512", "AS64512"),
    (T.ASN, "AS1.10", "AS65546"),
    (T.ASN, "AS4294967295", "AS4294967295"),
]


@pytest.mark.parametrize(("obs_type", "raw", "expected"), VALID)
def test_normalise_returns_canonical_form(obs_type: T, raw: str, expected: str) -> None:
    assert normalise(obs_type, raw) == expected


def test_ipv4_mapped_ipv6_becomes_ipv4() -> None:
    assert normalise_typed(T.IPV6, "::ffff:198.51.100.7") == (T.IPV4, "198.51.100.7")
    assert normalise_typed(T.IPV6, "::FFFF:c633:6407") == (T.IPV4, "198.51.100.7")
    assert normalise_typed(T.IPV6, "::ffff:198.51.100.0/120") == (T.IPV4, "198.51.100.0/24")
    assert normalise_typed(T.IPV6, "198.51.100.7") == (T.IPV4, "198.51.100.7")
    assert normalise(T.IPV6, "::ffff:198.51.100.7") == "198.51.100.7"
    assert normalise_typed(T.IPV6, "2001:db8::1") == (T.IPV6, "2001:db8::1")
    assert normalise_typed(T.DOMAIN, "example.com") == (T.DOMAIN, "example.com")


# --------------------------------------------------------------------------- rejections

INVALID = [
    (T.IPV4, "999.1.1.1", "'999.1.1.1' is not an IPv4 address: octet 999 > 255"),
    (
        T.IPV4,
        "1.2.3",
        "'1.2.3' is not an IPv4 address: expected 4 dot-separated octets, found 3",
    ),
    (
        T.IPV4,
        "010.1.1.1",
        "'010.1.1.1' is not an IPv4 address: octet '010' has a leading zero "
        "(ambiguous: octal or decimal)",
    ),
    (T.IPV4, "1.2.3.x", "'1.2.3.x' is not an IPv4 address: octet 'x' is not a decimal number"),
    (T.IPV4, "1.2.3.0/33", "'1.2.3.0/33' is not a CIDR block: prefix length /33 > 32"),
    (
        T.IPV6,
        "fe80::1%eth0",
        "'fe80::1%eth0' is not a global IPv6 address: the zone index '%eth0' only has meaning "
        "on one host",
    ),
    (
        T.IPV6,
        "2001:db8::g",
        "'2001:db8::g' is not an IPv6 address: Only hex digits permitted in 'g' in '2001:db8::g'",
    ),
    (T.IPV6, "2001:db8::/129", "'2001:db8::/129' is not a CIDR block: prefix length /129 > 128"),
    (
        T.DOMAIN,
        "co.uk",
        "'co.uk' is a public suffix (like 'co.uk'), not a registrable domain name",
    ),
    (T.DOMAIN, "com", "'com' is not a domain name: a single label has no registrable domain"),
    (
        T.DOMAIN,
        "example.za",
        "'example.za' is not a registrable domain name: names under '.za' are registered only "
        "below the suffixes that the public suffix list gives for '.za'",
    ),
    (
        T.DOMAIN,
        "foo.er",
        "'foo.er' is a public suffix (like 'co.uk'), not a registrable domain name",
    ),
    (
        T.DOMAIN,
        "evil.notatld",
        "'evil.notatld' is not a domain name: unknown top-level domain '.notatld'",
    ),
    (
        T.DOMAIN,
        "invoice.pdf",
        "'invoice.pdf' is not a domain name: unknown top-level domain '.pdf'",
    ),
    (T.DOMAIN, "a..com", "'a..com' is not a domain name: it has an empty label"),
    (
        T.DOMAIN,
        "-evil.com",
        "'-evil.com' is not a domain name: label '-evil' may contain only letters, digits, "
        "hyphens and underscores, and may not start or end with a hyphen",
    ),
    (
        T.DOMAIN,
        "ev_il.com",
        "'ev_il.com' is not a domain name: an underscore in the registered name 'ev_il.com' "
        "is not allowed",
    ),
    (
        T.DOMAIN,
        "xn--zz-.com",
        "'xn--zz-.com' is not a domain name: label 'xn--zz-' may contain "
        "only letters, digits, hyphens and underscores, and may not start or end with a hyphen",
    ),
    (T.DOMAIN, "", "'' is not a domain name: it is empty"),
    (
        T.URL,
        "mailto:someone@example.com",
        "'mailto:someone@example.com' is not a URL: expected '<scheme>://<host>...' or a host "
        "followed by a path",
    ),
    (
        T.URL,
        "http://intranet/login",
        "'http://intranet/login' has an invalid host: 'intranet' is not a domain name: a single "
        "label has no registrable domain",
    ),
    (
        T.URL,
        "http://example.com:99999/",
        "'http://example.com:99999/' is not a URL: port '99999' is not a number from 0 to 65535",
    ),
    (T.URL, "http:///path", "'http:///path' is not a URL: it has no host"),
    (
        T.EMAIL,
        "no-at-sign.example.com",
        "'no-at-sign.example.com' is not an e-mail address: it has no '@'",
    ),
    (
        T.EMAIL,
        "a..b@example.com",
        "'a..b@example.com' is not an e-mail address: the local part has a leading, trailing or "
        "doubled dot",
    ),
    (
        T.EMAIL,
        "a b@example.com",
        "'a b@example.com' is not an e-mail address: character ' ' is not allowed in an "
        "unquoted local part",
    ),
    (
        T.EMAIL,
        "user@co.uk",
        "'user@co.uk' has an invalid domain part: 'co.uk' is a public suffix (like 'co.uk'), "
        "not a registrable domain name",
    ),
    (
        T.MD5,
        "d41d8cd98f00b204e9800998ecf8427",
        "'d41d8cd98f00b204e9800998ecf8427' is not an MD5 hash: expected 32 hexadecimal "
        "characters, found 31",
    ),
    (
        T.SHA1,
        "zz39a3ee5e6b4b0d3255bfef95601890afd80709",
        "'zz39a3ee5e6b4b0d3255bfef95601890afd80709' is not a SHA-1 hash: character 'z' at "
        "position 0 is not hexadecimal",
    ),
    (
        T.CVE,
        "CVE-2021-044228",
        "'CVE-2021-044228' is not a CVE id: a sequence number longer than 4 digits has no "
        "leading zero",
    ),
    (
        T.CVE,
        "CVE-1998-0001",
        "'CVE-1998-0001' is not a CVE id: year 1998 is before CVE began (1999)",
    ),
    (
        T.CVE,
        "CVE-2014-160",
        "'CVE-2014-160' is not a CVE id: the sequence number has 3 digits, at least 4 are required",
    ),
    (
        T.CVE,
        "GHSA-1234",
        "'GHSA-1234' is not a CVE id: expected 'CVE-YYYY-NNNN' (4 or more digits)",
    ),
    (
        T.PHONE,
        "020 7946 0958",
        "'020 7946 0958' is not accepted: phone numbers must be in international form, starting "
        "with '+' or '00'",
    ),
    (
        T.PHONE,
        "+44 7700 900123",
        "'+44 7700 900123' is not a valid phone number for country code +44 (GB)",
    ),
    (
        T.PHONE,
        "+abc",
        "'+abc' is not a phone number: The string supplied did not seem to be a phone number.",
    ),
    (
        T.BTC,
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",
        "'1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb' is not a Bitcoin address: base58check checksum "
        "mismatch",
    ),
    (
        T.BTC,
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0",
        "'1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0' is not a Bitcoin address: character '0' at "
        "position 33 is not base58",
    ),
    (
        T.BTC,
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
        "'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5' is not a Bitcoin address: bech32 checksum "
        "mismatch",
    ),
    (
        T.BTC,
        "bc1QW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "'bc1QW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4' is not a Bitcoin address: bech32 may not "
        "mix upper and lower case",
    ),
    (
        T.BTC,
        "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
        "'tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx' is not accepted: it is a Bitcoin testnet "
        "or regtest address",
    ),
    (
        T.BTC,
        "Xyz",
        "'Xyz' is not a Bitcoin address: expected base58 starting with 1 or 3, or bech32 "
        "starting with bc1",
    ),
    (
        T.ETH,
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
        "'0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD' fails the EIP-55 mixed-case checksum: "
        "the character at position 41 should be 'd'",
    ),
    (
        T.ETH,
        "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        "'5aaeb6053f3e94c9b9a09f33669435e7ef1beaed' is not an Ethereum address: expected '0x' "
        "and 40 hexadecimal characters",
    ),
    (
        T.XMR,
        MONERO_GENERAL_FUND[:-1] + "B",
        f"{MONERO_GENERAL_FUND[:-1] + 'B'!r} is not a Monero address: Keccak-256 checksum mismatch",
    ),
    (
        T.XMR,
        MONERO_GENERAL_FUND[:-1],
        f"{MONERO_GENERAL_FUND[:-1]!r} is not a Monero address: expected 95 (standard, "
        "subaddress) or 106 (integrated) characters, found 94",
    ),
    (
        T.IBAN,
        "DE89 3704 0044 0532 0130 01",
        "'DE89 3704 0044 0532 0130 01' is not an IBAN: check digits 89 do not match "
        "(mod-97 remainder is 28, expected 1)",
    ),
    (
        T.IBAN,
        "DE89 3704 0044 0532 0130 0",
        "'DE89 3704 0044 0532 0130 0' is not an IBAN: IBANs of DE have 22 characters, found 21",
    ),
    (
        T.IBAN,
        "US12 3456 7890 1234",
        "'US12 3456 7890 1234' is not an IBAN: country 'US' is not in the ISO 13616 IBAN registry",
    ),
    (
        T.IBAN,
        "DE8X",
        "'DE8X' is not an IBAN: expected a 2-letter country code, 2 check digits and letters or "
        "digits",
    ),
    (T.ASN, "AS0", "'AS0' is not usable: AS0 is reserved (RFC 7607) and never routed"),
    (
        T.ASN,
        "AS4294967296",
        "'AS4294967296' is not an autonomous system number: 4294967296 > 4294967295 (32 bits)",
    ),
    (
        T.ASN,
        "AS65536.1",
        "'AS65536.1' is not an autonomous system number: asdot parts must be <= 65535",
    ),
    (
        T.ASN,
        "Cloudflare",
        "'Cloudflare' is not an autonomous system number: expected 'AS13335' or '13335'",
    ),
]


@pytest.mark.parametrize(("obs_type", "raw", "reason"), INVALID)
def test_normalise_rejects_with_precise_reason(obs_type: T, raw: str, reason: str) -> None:
    with pytest.raises(InvalidObservable) as caught:
        normalise(obs_type, raw)
    assert caught.value.reason == reason
    assert caught.value.obs_type is obs_type
    assert caught.value.raw == raw
    assert str(caught.value) == reason
    assert isinstance(caught.value, ValueError)


def test_defanged_input_is_reported_with_the_callers_raw_value() -> None:
    with pytest.raises(InvalidObservable) as caught:
        normalise(T.DOMAIN, "evil[.]notatld")
    assert caught.value.raw == "evil[.]notatld"
    assert (
        caught.value.reason
        == "'evil.notatld' is not a domain name: unknown top-level domain '.notatld'"
    )


def test_bech32_version_must_match_checksum_variant() -> None:
    # A version 1 program with a bech32 (not bech32m) checksum is invalid since BIP 350.
    program = bytes(range(32))
    data = [1, *_to_5bit(program)]
    polymod = bech32_polymod([*bech32_hrp_expand("bc"), *data, 0, 0, 0, 0, 0, 0]) ^ BECH32_CONST
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    wrong = "bc1" + "".join(BECH32_CHARSET[value] for value in data + checksum)
    with pytest.raises(InvalidObservable) as caught:
        normalise(T.BTC, wrong)
    assert caught.value.reason == (
        f"{wrong!r} is not a Bitcoin address: witness version 1 must use bech32m (BIP 350)"
    )


def test_base58_address_with_wrong_version_byte() -> None:
    # Version 6 also encodes to a leading "3" but is not a Bitcoin P2SH address.
    wrong = base58check(6, bytes(20))
    assert wrong == "3R2cuenjG5nFubqX9Wzuukdin2YfLYZyD1"
    with pytest.raises(InvalidObservable) as caught:
        normalise(T.BTC, wrong)
    assert caught.value.reason == (
        f"{wrong!r} is not a Bitcoin address: version byte 0x06 is neither P2PKH (0x00) nor "
        "P2SH (0x05)"
    )


def test_xmr_testnet_prefix_is_rejected() -> None:
    stagenet = monero_address(24, bytes(64))
    with pytest.raises(InvalidObservable) as caught:
        normalise(T.XMR, stagenet)
    assert caught.value.reason == (
        f"{stagenet!r} is not a Monero mainnet address: network prefix 24 is not 18, 19 or 42"
    )


def test_xmr_integrated_and_subaddress_are_accepted() -> None:
    integrated = monero_address(19, bytes(range(72)))
    subaddress = monero_address(42, bytes(range(64)))
    assert (len(integrated), integrated[0]) == (106, "4")
    assert (len(subaddress), subaddress[0]) == (95, "8")
    assert normalise(T.XMR, integrated) == integrated
    assert normalise(T.XMR, subaddress) == subaddress


def test_xmr_integrated_prefix_with_standard_length_is_rejected() -> None:
    wrong = monero_address(19, bytes(64))
    with pytest.raises(InvalidObservable) as caught:
        normalise(T.XMR, wrong)
    assert caught.value.reason == (
        f"{wrong!r} is not a Monero address: a integrated address has 77 bytes, found 69"
    )


# --------------------------------------------------------------------------- detect

DETECT = [
    ("hxxps://evil[.]example.com/a", (T.URL, "https://evil.example.com/a")),
    ("evil.example.com/gate.php", (T.URL, "http://evil.example.com/gate.php")),
    ("198.51.100.7:4444", (T.URL, "http://198.51.100.7:4444/")),
    ("Evil.Example.COM", (T.DOMAIN, "evil.example.com")),
    ("198.51.100.7", (T.IPV4, "198.51.100.7")),
    ("203.0.113.9/24", (T.IPV4, "203.0.113.0/24")),
    ("2001:db8::1", (T.IPV6, "2001:db8::1")),
    ("[2001:db8::1]", (T.IPV6, "2001:db8::1")),
    ("::ffff:198.51.100.7", (T.IPV4, "198.51.100.7")),
    ("user@example.com", (T.EMAIL, "user@example.com")),
    ("D41D8CD98F00B204E9800998ECF8427E", (T.MD5, "d41d8cd98f00b204e9800998ecf8427e")),
    (
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        (T.SHA1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    ),
    (SHA512_EMPTY, (T.SHA512, SHA512_EMPTY)),
    ("cve-2021-44228", (T.CVE, "CVE-2021-44228")),
    (
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        (T.ETH, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
    ),
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", (T.BTC, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")),
    (
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        (T.BTC, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    ),
    (MONERO_GENERAL_FUND, (T.XMR, MONERO_GENERAL_FUND)),
    ("+44 20 7946 0958", (T.PHONE, "+442079460958")),
    ("0044 20 7946 0958", (T.PHONE, "+442079460958")),
    ("DE89 3704 0044 0532 0130 00", (T.IBAN, "DE89370400440532013000")),
    ("AS13335", (T.ASN, "AS13335")),
    ("  evil[.]example[.]com \n", (T.DOMAIN, "evil.example.com")),
    ("invoice.pdf", None),
    ("13335", None),
    ("hello world", None),
    ("", None),
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", None),
]


@pytest.mark.parametrize(("raw", "expected"), DETECT)
def test_detect_guesses_type_from_shape(raw: str, expected: tuple[T, str] | None) -> None:
    assert detect(raw) == expected


# --------------------------------------------------------------------------- refang

REFANG = [
    ("hxxp://evil[.]com", "http://evil.com"),
    ("hXXps[:]//evil(.)com/a", "https://evil.com/a"),
    ("hxxps[://]evil{.}com", "https://evil.com"),
    ("fxp://files[.]example[.]org", "ftp://files.example.org"),
    ("evil[dot]com and evil (dot) com and evil [.] com", "evil.com and evil.com and evil.com"),
    (
        "user[@]evil.com, user (at) evil.com, user[at]evil.com",
        "user@evil.com, user@evil.com, user@evil.com",
    ),
    ("evil\\.com", "evil.com"),
    ("http[:]//evil.com[/]path", "http://evil.com/path"),
    ("nothing to do here: (see above) [1]", "nothing to do here: (see above) [1]"),
    ("the hxxp word alone", "the hxxp word alone"),
    (
        "HXXPS://EVIL[.]COM and Hxtps://a[.]b and htxp://c[.]d",
        "https://EVIL.COM and https://a.b and http://c.d",
    ),
    ("ahxxp://x and fxps://files[.]example", "ahxxp://x and ftps://files.example"),
    ("evil {dot} com, evil[DOT]com, user {at} evil.com", "evil.com, evil.com, user@evil.com"),
    (
        "secure-update dot com, mail DOT evil-domain DOT ru",
        "secure-update.com, mail.evil-domain.ru",
    ),
    (
        "the dot com era, polka dot dress, evil dot notatld",
        "the dot com era, polka dot dress, evil dot notatld",
    ),
    ("ev\u200bil.c\u200c\u200dom, pay\u00adpal.com, \ufeffx\u2060y", "evil.com, paypal.com, xy"),
    (
        "\uff45\uff56\uff49\uff4c\uff0e\uff43\uff4f\uff4d, admin\uff20evil.com, "
        "https\uff1a\uff0f\uff0fx.org",
        "evil.com, admin@evil.com, https://x.org",
    ),
    (
        "evil。com and evil\uff61net, but 完成。下一步, 完成\uff0e下一步 and \uff15\uff0e\uff10",
        "evil.com and evil.net, but 完成。下一步, 完成\uff0e下一步 and 5.0",
    ),
]


@pytest.mark.parametrize(("text", "expected"), REFANG)
def test_refang(text: str, expected: str) -> None:
    assert refang(text) == expected


def test_refang_spans_map_offsets_back_to_the_original() -> None:
    text = "go to hxxp://evil[.]com now"
    refanged, edits = refang_spans(text)
    assert refanged == "go to http://evil.com now"
    starts = [edit.start for edit in edits]
    begin = refanged.index("evil.com")
    end = begin + len("evil.com")
    orig_begin = map_offset(edits, starts, begin, is_end=False)
    orig_end = map_offset(edits, starts, end, is_end=True)
    assert text[orig_begin:orig_end] == "evil[.]com"
    url_end = refanged.index(" now")
    assert (
        text[
            map_offset(edits, starts, 6, is_end=False) : map_offset(
                edits, starts, url_end, is_end=True
            )
        ]
        == "hxxp://evil[.]com"
    )
    assert map_offset(edits, starts, len(refanged), is_end=True) == len(text)
    assert refang_spans("no defang") == ("no defang", ())


def test_refang_spans_removed_characters_map_back() -> None:
    text = "a ev\u200b\u200bil[.]com b"
    refanged, edits = refang_spans(text)
    assert refanged == "a evil.com b"
    assert edits == (RefangEdit(4, 4, 4, 6), RefangEdit(6, 7, 8, 11))
    starts = [edit.start for edit in edits]
    begin, end = refanged.index("evil"), refanged.index(" b")
    assert (begin, end) == (2, 10)
    orig = (
        map_offset(edits, starts, begin, is_end=False),
        map_offset(edits, starts, end, is_end=True),
    )
    assert text[orig[0] : orig[1]] == "ev\u200b\u200bil[.]com"
    # A name that starts right after removed characters starts after them in the original too.
    assert map_offset(edits, starts, 4, is_end=False) == 6


def test_normalise_refanged_does_not_refang_again() -> None:
    assert normalise_refanged(T.DOMAIN, "Evil.COM") == (T.DOMAIN, "evil.com")
    assert normalise_refanged(T.IPV6, "::ffff:198.51.100.7") == (T.IPV4, "198.51.100.7")
    with pytest.raises(InvalidObservable) as caught:
        normalise_refanged(T.DOMAIN, "evil[.]com")
    assert caught.value.reason == (
        "'evil[.]com' is not a domain name: label 'evil[' may contain only letters, digits, "
        "hyphens and underscores, and may not start or end with a hyphen"
    )
    assert normalise_typed(T.DOMAIN, "evil[.]com") == (T.DOMAIN, "evil.com")


def test_known_tlds() -> None:
    tlds = known_tlds()
    assert {"com", "uk", "xn--p1ai", "onion"} <= tlds
    assert "notatld" not in tlds
    assert all(is_known_tld(tld) for tld in ("com", "uk", "xn--p1ai"))


def test_tlds_without_deeper_rules_need_no_public_suffix_lookup() -> None:
    # _domain trusts that a name under such a TLD has the TLD as its public suffix.
    known, simple = _icann_rules()
    assert {"com", "net", "xyz", "top"} <= simple
    assert {"uk", "jp", "er", "ck"}.isdisjoint(simple)
    assert simple < known
    psl = _psl()
    assert [tld for tld in sorted(simple) if psl.publicsuffix(f"x.y.{tld}") != tld] == []


# --------------------------------------------------------------------------- properties

_LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,12}[a-z0-9])?", fullmatch=True)
_SUFFIXES = ["com", "net", "org", "ru", "de", "co.uk", "co.za", "io", "xyz", "top", "xn--p1ai"]


@st.composite
def domains(draw: st.DrawFn) -> str:
    labels = draw(st.lists(_LABEL, min_size=1, max_size=3))
    name = ".".join([*labels, draw(st.sampled_from(_SUFFIXES))])
    if draw(st.booleans()):
        name = name.upper()
    return name + ("." if draw(st.booleans()) else "")


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "HTTPS", "ftp", "hxxp"]))
    host = draw(domains()).rstrip(".")
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    path = draw(st.text(alphabet="abcXYZ019-._~/%20%7e%E2é ?=&+", max_size=20))
    return f"{scheme}://{host}{port}/{path}"


_HEX = "0123456789abcdefABCDEF"


@st.composite
def observables(draw: st.DrawFn) -> tuple[T, str]:
    kind = draw(st.sampled_from(list(T)))
    if kind is T.IPV4:
        address = draw(st.ip_addresses(v=4))
        suffix = draw(st.sampled_from(["", f"/{draw(st.integers(0, 32))}"]))
        return kind, f"{address}{suffix}"
    if kind is T.IPV6:
        address = draw(st.ip_addresses(v=6))
        return kind, draw(st.sampled_from([address.exploded, address.compressed.upper()]))
    if kind is T.DOMAIN:
        return kind, draw(domains())
    if kind is T.URL:
        return kind, draw(urls())
    if kind is T.EMAIL:
        local = draw(
            st.from_regex(r"[A-Za-z0-9_+-]{1,10}(?:\.[A-Za-z0-9_+-]{1,10})?", fullmatch=True)
        )
        return kind, f"{local}@{draw(domains())}"
    if kind in (T.MD5, T.SHA1, T.SHA256, T.SHA512):
        size = {T.MD5: 32, T.SHA1: 40, T.SHA256: 64, T.SHA512: 128}[kind]
        return kind, draw(st.text(alphabet=_HEX, min_size=size, max_size=size))
    if kind is T.CVE:
        year = draw(st.integers(1999, 2030))
        sequence = draw(st.integers(1, 9_999_999))
        return kind, f"cve-{year}-{sequence:04d}"
    if kind is T.BTC:
        payload = draw(st.binary(min_size=20, max_size=20))
        choice = draw(st.sampled_from(["p2pkh", "p2sh", "p2wpkh", "p2tr"]))
        if choice == "p2pkh":
            return kind, base58check(0, payload)
        if choice == "p2sh":
            return kind, base58check(5, payload)
        if choice == "p2wpkh":
            return kind, segwit_address(0, payload).upper()
        return kind, segwit_address(1, payload + bytes(12))
    if kind is T.ETH:
        return kind, eip55(draw(st.binary(min_size=20, max_size=20)))
    if kind is T.XMR:
        prefix = draw(st.sampled_from([18, 19, 42]))
        size = 72 if prefix == 19 else 64
        return kind, monero_address(prefix, draw(st.binary(min_size=size, max_size=size)))
    if kind is T.PHONE:
        region = draw(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)))
        number = phonenumbers.example_number(region)
        assume(number is not None)
        assert number is not None
        style = draw(
            st.sampled_from(
                [phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164]
            )
        )
        return kind, phonenumbers.format_number(number, style)
    if kind is T.IBAN:
        country = draw(st.sampled_from(sorted(IBAN_LENGTHS)))
        bban = draw(
            st.text(
                alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                min_size=IBAN_LENGTHS[country] - 4,
                max_size=IBAN_LENGTHS[country] - 4,
            )
        )
        value = make_iban(country, bban)
        return kind, " ".join(value[i : i + 4] for i in range(0, len(value), 4)).lower()
    return kind, f"AS{draw(st.integers(1, 4294967295))}"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(observables())
def test_normalise_is_idempotent(item: tuple[T, str]) -> None:
    obs_type, raw = item
    canonical_type, value = normalise_typed(obs_type, raw)
    assert normalise_typed(canonical_type, value) == (canonical_type, value)
    assert normalise(canonical_type, normalise(canonical_type, value)) == value


@given(st.ip_addresses(v=6))
def test_ipv6_normalise_agrees_with_ipaddress(address: ipaddress.IPv6Address) -> None:
    obs_type, value = normalise_typed(T.IPV6, address.exploded)
    if address.ipv4_mapped is not None:
        assert (obs_type, value) == (T.IPV4, str(address.ipv4_mapped))
    else:
        assert (obs_type, value) == (T.IPV6, address.compressed)
