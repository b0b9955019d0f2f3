"""Compiling and matching warninglists: each list type on small lists, then the shipped lists."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from cyberfusion.enrichment import warninglist
from cyberfusion.enrichment.warninglist import WarninglistFormatError, Warninglists
from cyberfusion.observable.types import ObservableType

IPS = ["ip-src", "ip-dst"]
SMALL_LISTS: dict[str, dict[str, Any]] = {
    "top": {
        "name": "Top sites",
        "type": "hostname",
        "matching_attributes": ["hostname", "domain", "url"],
        # "co.uk" is a public suffix and "tld-only" a single label: neither is an observable.
        "list": ["example.com", "Example.ORG", "github.io", "co.uk", "tld-only", "hosting.net"],
    },
    "tranco": {
        "name": "Top million",
        "type": "hostname",
        "matching_attributes": ["hostname", "domain"],
        "list": ["long-tail-example.com"],
    },
    "lots-project": {
        "name": "Trusted sites",
        "type": "hostname",
        "matching_attributes": ["hostname", "domain"],
        "list": [".apps.hosting.net", "files-example.com"],
    },
    "exact": {
        "name": "Exact names",
        "type": "string",
        "matching_attributes": ["domain"],
        "list": ["www.example.net", ".suffix-example.com"],
    },
    "dynamic-dns": {
        "name": "Dynamic DNS",
        "type": "hostname",
        "matching_attributes": ["domain", "hostname", "url"],
        "list": [".dyn-example.com"],
    },
    "cdn": {
        "name": "CDN ranges",
        "type": "cidr",
        "matching_attributes": IPS,
        "list": ["198.51.100.0/24", "2001:db8:1::/48", "::ffff:203.0.113.0/120", "not an ip"],
    },
    "resolvers": {
        "name": "Resolvers",
        "type": "cidr",
        "matching_attributes": IPS,
        "list": ["198.51.100.7", "198.51.100.128/25"],
    },
    "hashes": {
        "name": "Known hashes",
        "type": "string",
        "matching_attributes": ["md5", "sha1", "sha256", "ssdeep"],
        "list": [
            "D41D8CD98F00B204E9800998ECF8427E",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "xyz",
        ],
    },
    "contacts": {
        "name": "Contacts",
        "type": "regex",
        "matching_attributes": ["email-src", "email-dst"],
        "list": ["/^(abuse|noc)\\@.*$/i", "/(unclosed/"],
    },
    "phones": {
        "name": "Fictional phones",
        "type": "regex",
        "matching_attributes": ["phone-number"],
        "list": ["/((?:\\+|00)44)?02079460([0-9]{3})/g"],
    },
    "sandbox": {
        "name": "Sandboxes",
        "type": "substring",
        "matching_attributes": ["domain", "ip-dst"],
        "list": ["sandbox-example.com", "192.0.2.1"],
    },
    "unused": {
        "name": "Application ids",
        "type": "string",
        "matching_attributes": ["azure-application-id"],
        "list": ["14d82eec-204b-4c2f-b7e8-296a70dab67e"],
    },
}


def write_lists(root: Path, lists: dict[str, dict[str, Any]]) -> Path:
    for version, (slug, raw) in enumerate(lists.items(), start=1):
        folder = root / slug
        folder.mkdir(parents=True)
        document = {"description": f"{raw['name']} (test)", "version": version, **raw}
        (folder / "list.json").write_text(json.dumps(document), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lists(tmp_path_factory.mktemp("lists"), SMALL_LISTS)


@pytest.fixture(scope="module")
def small(small_dir: Path) -> Warninglists:
    return Warninglists(warninglist.compile_lists(small_dir), path=Path("small.bin"))


# --------------------------------------------------------------------------- compiling


def test_compile_records_each_list(small: Warninglists) -> None:
    summary = {
        info.slug: (info.name, info.version, info.list_type, info.compiled, info.skipped)
        for info in small.lists
    }
    assert summary == {
        "cdn": ("CDN ranges", "6", "cidr", 3, 1),
        "contacts": ("Contacts", "9", "regex", 1, 1),
        "dynamic-dns": ("Dynamic DNS", "5", "hostname", 1, 0),
        "exact": ("Exact names", "4", "string", 2, 0),
        "hashes": ("Known hashes", "8", "string", 2, 1),
        "phones": ("Fictional phones", "10", "regex", 1, 0),
        "resolvers": ("Resolvers", "7", "cidr", 2, 0),
        "sandbox": ("Sandboxes", "11", "substring", 2, 0),
        "top": ("Top sites", "1", "hostname", 4, 2),
        "tranco": ("Top million", "2", "hostname", 1, 0),
        "lots-project": ("Trusted sites", "3", "hostname", 2, 0),
        "unused": ("Application ids", "12", "string", 0, 1),
    }
    assert small.info("Top sites").applies_to == {ObservableType.DOMAIN, ObservableType.URL}
    assert small.info("Known hashes").applies_to == {
        ObservableType.MD5,
        ObservableType.SHA1,
        ObservableType.SHA256,
    }
    assert small.info("Application ids").applies_to == frozenset()
    with pytest.raises(KeyError):
        small.info("No such list")


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("example.com", ["Top sites"]),
        ("www.example.com", ["Top sites"]),
        ("a.b.example.com", ["Top sites"]),
        ("example.org", ["Top sites"]),  # the entry was upper case
        ("notexample.com", []),  # a suffix only at a label boundary
        ("example.com.evil.net", []),
        ("github.io", ["Top sites"]),
        ("someone.github.io", []),  # another owner: github.io is a suffix of the private section
        ("www.example.net", ["Exact names"]),
        ("a.www.example.net", []),  # string entries are exact
        ("suffix-example.com", ["Exact names"]),  # a string entry with a leading dot
        ("x.suffix-example.com", ["Exact names"]),
        ("dyn-example.com", ["Dynamic DNS"]),
        ("victim.dyn-example.com", []),  # a service list: only the service's own name
        ("sandbox-example.com", ["Sandboxes"]),
        ("app.sandbox-example.com", ["Sandboxes"]),
        ("xsandbox-example.com", []),  # substring lists are taken as host names
        ("long-tail-example.com", ["Top million"]),
        ("www.long-tail-example.com", []),  # the top million matches names exactly
        ("hosting.net", ["Top sites"]),
        ("www.hosting.net", ["Top sites"]),
        ("apps.hosting.net", ["Top sites", "Trusted sites"]),
        ("customer.apps.hosting.net", []),  # a service list's dotted entry: users' names below
        ("files-example.com", ["Trusted sites"]),
        ("www.files-example.com", []),  # a service list flags the service's own name only
    ],
)
def test_domains(small: Warninglists, value: str, names: list[str]) -> None:
    assert small.match(ObservableType.DOMAIN, value) == names


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("https://example.com/", ["Top sites"]),
        ("https://www.example.com:8443/", ["Top sites"]),
        ("http://dyn-example.com/", ["Dynamic DNS"]),
        ("https://example.com/login.php", []),  # a page on a listed site is no noise
        ("https://example.com/?q=1", []),
        ("https://user@example.com/", []),
        ("http://www.example.net/", []),  # "Exact names" does not declare URLs
        ("http://198.51.100.7/", []),  # CIDR lists do not declare URLs
        ("http://[2001:db8:1::1]/", []),
    ],
)
def test_urls_match_by_host_at_the_root_only(
    small: Warninglists, value: str, names: list[str]
) -> None:
    assert small.match("url", value) == names


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("obs_type", "value", "names"),
    [
        ("ipv4-addr", "198.51.100.7", ["CDN ranges", "Resolvers"]),
        ("ipv4-addr", "198.51.100.6", ["CDN ranges"]),
        ("ipv4-addr", "198.51.100.200", ["CDN ranges", "Resolvers"]),
        ("ipv4-addr", "198.51.100.128/25", ["CDN ranges", "Resolvers"]),
        ("ipv4-addr", "198.51.100.0/25", ["CDN ranges"]),  # not every address is a resolver
        ("ipv4-addr", "198.51.100.0/24", ["CDN ranges"]),
        ("ipv4-addr", "198.51.0.0/16", []),  # wider than any listed range
        ("ipv4-addr", "203.0.113.9", ["CDN ranges"]),  # listed as an IPv4-mapped block
        ("ipv4-addr", "192.0.2.1", ["Sandboxes"]),  # an IP entry of a substring list
        ("ipv4-addr", "0.0.0.0", []),
        ("ipv4-addr", "255.255.255.255", []),
        ("ipv6-addr", "::ffff:198.51.100.7", ["CDN ranges", "Resolvers"]),
        ("ipv6-addr", "::ffff:198.51.100.0/120", ["CDN ranges"]),
        ("ipv6-addr", "2001:db8:1::5", ["CDN ranges"]),
        ("ipv6-addr", "2001:db8:1::/64", ["CDN ranges"]),
        ("ipv6-addr", "2001:db8:2::5", []),
        ("ipv6-addr", "::", []),
        ("ipv6-addr", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", []),
        ("ipv4-addr", "not-an-address", []),
    ],
)
def test_addresses(small: Warninglists, obs_type: str, value: str, names: list[str]) -> None:
    assert small.match(obs_type, value) == names


# --------------------------------------------------------------------------- other types


@pytest.mark.parametrize(
    ("obs_type", "value", "names"),
    [
        ("md5", "d41d8cd98f00b204e9800998ecf8427e", ["Known hashes"]),
        ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709", ["Known hashes"]),
        ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", []),
        ("email-addr", "Abuse@example.com", ["Contacts"]),
        ("email-addr", "noc@example.org", ["Contacts"]),
        ("email-addr", "john.abuse@example.com", []),  # whole-value match
        ("phone-number", "+442079460958", ["Fictional phones"]),  # in national form 020 7946 0958
        ("phone-number", "+442079460", []),
        ("phone-number", "+33612345678", []),
        ("cve", "CVE-2024-1234", []),
        ("btc-address", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", []),
    ],
)
def test_other_types(small: Warninglists, obs_type: str, value: str, names: list[str]) -> None:
    assert small.match(obs_type, value) == names


def test_match_many_keeps_order(small: Warninglists) -> None:
    assert small.match_many(
        [("domain-name", "example.com"), ("ipv4-addr", "8.8.4.4"), ("md5", "0" * 32)]
    ) == [["Top sites"], [], []]


def test_unknown_type_is_an_error(small: Warninglists) -> None:
    with pytest.raises(ValueError, match="'ipv5-addr' is not a valid ObservableType"):
        small.match("ipv5-addr", "1.2.3.4")


# --------------------------------------------------------------------------- the file


def test_load_compiles_once_then_reads_the_file(small_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "data" / "warninglists.bin"
    first = warninglist.load(path, lists_dir=small_dir)
    assert path.read_bytes() == warninglist.compile_lists(small_dir)
    # The file is read as it is: a list added afterwards is not seen until it is compiled again.
    write_lists(small_dir.parent / "more", {"extra": {**SMALL_LISTS["exact"], "name": "Extra"}})
    second = warninglist.load(path, lists_dir=small_dir.parent / "more")
    assert [info.name for info in second.lists] == [info.name for info in first.lists]
    assert second.match("domain-name", "www.example.net") == ["Exact names"]
    assert list(tmp_path.joinpath("data").iterdir()) == [path]  # no temporary file left


def test_a_file_of_another_format_is_compiled_again(small_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "warninglists.bin"
    path.write_bytes(b"CFWL" + (999).to_bytes(4, "little") + bytes(4))
    lists = warninglist.load(path, lists_dir=small_dir)
    assert lists.match("domain-name", "example.com") == ["Top sites"]
    assert path.read_bytes()[4:8] == warninglist.FORMAT_VERSION.to_bytes(4, "little")


def test_format_errors_name_the_file() -> None:
    with pytest.raises(WarninglistFormatError, match=r"^x\.bin: not a compiled warninglist file$"):
        Warninglists(b"PK\x03\x04 a zip file", path=Path("x.bin"))
    expected = rf"^y\.bin: format version 7, expected {warninglist.FORMAT_VERSION}$"
    with pytest.raises(WarninglistFormatError, match=expected):
        Warninglists(b"CFWL" + (7).to_bytes(4, "little") + bytes(4), path=Path("y.bin"))


def test_compiled_path_is_keyed_by_the_package_version(tmp_path: Path) -> None:
    path = warninglist.compiled_path(tmp_path)
    assert path.parent == tmp_path
    assert path.name.startswith(f"warninglists-{warninglist.package_version()}-")
    assert path.suffix == ".bin"


# --------------------------------------------------------------------------- shipped lists


def shipped(slug: str) -> dict[str, Any]:
    path = warninglist.shipped_lists_dir() / slug / "list.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_every_shipped_list_is_compiled(shipped_lists: Warninglists) -> None:
    slugs = sorted(path.parent.name for path in warninglist.shipped_lists_dir().glob("*/list.json"))
    assert [info.slug for info in shipped_lists.lists] == slugs
    tranco = shipped_lists.info(shipped("tranco")["name"])
    assert tranco.version == str(shipped("tranco")["version"])
    assert tranco.compiled + tranco.skipped == len(shipped("tranco")["list"])


def test_google_is_on_the_top_site_lists(shipped_lists: Warninglists) -> None:
    names = shipped_lists.match("domain-name", "google.com")
    for slug in ("alexa", "tranco", "tranco10k", "cisco_top1000", "google"):
        assert shipped(slug)["name"] in names
    assert shipped_lists.match("domain-name", "www.google.com") != []


def test_a_cloudflare_address_is_flagged(shipped_lists: Warninglists) -> None:
    cloudflare = shipped("cloudflare")
    first = ipaddress.ip_network(cloudflare["list"][0])
    address = str(first.network_address + 1)
    assert cloudflare["name"] in shipped_lists.match("ipv4-addr", address)
    mapped = f"::ffff:{address}"
    assert shipped_lists.match("ipv6-addr", mapped) == shipped_lists.match("ipv4-addr", address)


def test_private_ranges_are_on_the_rfc_lists(shipped_lists: Warninglists) -> None:
    assert shipped("rfc1918")["name"] in shipped_lists.match("ipv4-addr", "10.1.2.3")
    assert shipped("rfc1918")["name"] in shipped_lists.match("ipv4-addr", "192.168.0.0/16")


def test_unremarkable_values_match_nothing(shipped_lists: Warninglists) -> None:
    assert shipped_lists.match("domain-name", "qzx-unlisted-7f3a9.com") == []
    assert shipped_lists.match("url", "https://www.google.com/url?q=evil") == []
    assert shipped_lists.match("sha256", "ab" * 32) == []


@pytest.mark.parametrize(
    "value",
    [
        "someone.github.io",  # the private section of the public suffix list
        "evil.duckdns.org",
        "victim-portal.eastus.cloudapp.azure.com",  # '.cloudapp.azure.com' on the LOTS list
        "c2.example.ddns.net",  # '.ddns.net' on the dynamic DNS list
        "payload.s3.amazonaws.com",
    ],
)
def test_names_of_service_users_are_not_flagged(shipped_lists: Warninglists, value: str) -> None:
    assert shipped_lists.match("domain-name", value) == []
