"""The per-value shortcuts of enrichment give the answers of the long way round: the IPv4
special-purpose search, the cached domain answers, the cached ranges of the location data."""

from __future__ import annotations

import ipaddress
import random

from cyberfusion.enrichment import service as enrichment_service


def _long_way(ip: ipaddress.IPv4Address) -> bool:
    return bool(ip.is_global and not ip.is_multicast and not ip.is_reserved)


def test_the_ipv4_search_agrees_with_ipaddress_at_every_block_edge_and_at_random() -> None:
    starts, ends = enrichment_service._ipv4_special_starts()
    numbers = [n for start, end in zip(starts, ends, strict=True) for n in (start, end)]
    edges = {n + step for n in numbers for step in (-1, 0, 1) if 0 <= n + step < 2**32}
    rng = random.Random(5)
    addresses = [ipaddress.IPv4Address(n) for n in sorted(edges)]
    addresses += [ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(20_000)]
    for address in addresses:
        if enrichment_service._outside_special_ipv4(address):
            assert _long_way(address), address
            assert enrichment_service._special_purpose(address) is None
    # The search does settle the common case: most of the space is global unicast.
    outside = sum(enrichment_service._outside_special_ipv4(a) for a in addresses[-20_000:])
    assert outside > 15_000


def test_special_purpose_names_do_not_change_with_the_search() -> None:
    cases = {
        "10.1.2.3": "Special-purpose address (private-use or special-purpose)",
        "127.0.0.1": "Special-purpose address (loopback)",
        "169.254.9.9": "Special-purpose address (link-local)",
        "224.0.0.251": "Special-purpose address (multicast)",
        "0.0.0.0": "Special-purpose address (unspecified)",
        "240.1.1.1": "Special-purpose address (reserved)",
        "100.64.3.4": "Special-purpose address (shared address space)",
        "192.0.2.44": "Special-purpose address (private-use or special-purpose)",
        "8.8.8.8": None,
        "100.128.0.1": None,
    }
    for value, expected in cases.items():
        assert enrichment_service._special_purpose(ipaddress.IPv4Address(value)) == expected, value


def test_a_cached_domain_answer_is_the_same_for_every_caller() -> None:
    first = enrichment_service._Facts()
    second = enrichment_service._Facts()
    enrichment_service._domain_facts(first, "login.example.co.uk")
    enrichment_service._domain_facts(second, "login.example.co.uk")
    assert first.enrichments == second.enrichments
    kind, data, source, _ = first.enrichments[0]
    assert (kind, source) == ("domain", "publicsuffixlist")
    assert data == {
        "registered_domain": "example.co.uk",
        "public_suffix": "co.uk",
        "service_suffix": None,
        "tld": "uk",
        "cctld_country": "GB",
    }
    assert first.countries == [("GB", "cctld-of", "publicsuffixlist")]
