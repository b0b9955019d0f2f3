"""Offline enrichment of observables: noise flags from the warninglists, facts from shipped data
(geolocation, AS, public suffixes, phone plans), the countries each observable concerns, analysts'
overrides of flags, and the summary the lookup shows.

Everything runs from data that ships with the packages; nothing is fetched at run time. The
geolocation data (0.6 s) and the compiled warninglists (under 0.2 s, or one compilation of 25 to
40 s after an upgrade of the list package) load on first use; `warm_up` loads both ahead.
"""

from __future__ import annotations

import atexit
import bisect
import functools
import ipaddress
import logging
import multiprocessing
import os
import platform
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import geoip2fast  # type: ignore[import-untyped]
import idna
import phonenumbers
import pycountry
from publicsuffixlist import PublicSuffixList
from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session

import cyberfusion
from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.core import collector
from cyberfusion.core.config import get_settings
from cyberfusion.core.db import in_ids, plain, write_behind
from cyberfusion.core.errors import Conflict, NotFound, ValidationFailed
from cyberfusion.core.time import as_utc, utcnow
from cyberfusion.enrichment import warninglist
from cyberfusion.enrichment.models import (
    Enrichment,
    EnrichmentKind,
    FlagSource,
    Jurisdiction,
    JurisdictionReason,
    ObservableFlag,
)
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.observable.types import ObservableType
from cyberfusion.registry.models import Country, Organisation
from cyberfusion.sharing import service as sharing_service

__all__ = [
    "Ahead",
    "EnrichmentSummary",
    "cctld_country",
    "describe",
    "enrich_observables",
    "enrich_submission",
    "enrichment_history",
    "look_ahead",
    "noise_condition",
    "override_flag",
    "parent_value",
    "reporting_countries",
    "shutdown_workers",
    "warm_up",
]

log = logging.getLogger(__name__)

# Observables per round trip (their ids travel as a range or as one array parameter).
_CHUNK = 5000
# Batches from this many observables up have their facts worked out in a worker process
# (`Ahead`); below, handing them over costs more than it saves.
_POOL_MIN = 10_000
# Chunks read and handed to the worker ahead of the one being stored.
_WINDOW = 20
# Seconds between checks that the worker still works, while waiting for its answer.
_PROBE_SECONDS = 1.0
# The combined country + ASN data for IPv4 and IPv6. geoip2fast keeps its tables in module
# globals, so a process holds one data file: this one, loaded by `_geoip` only.
_GEOIP_FILE = "geoip2fast-asn-ipv6.dat.gz"
_OWN_SOURCE = "cyberfusion"

# Internationalised ccTLDs, by their Unicode form (encoded to punycode below, so the table is
# readable and cannot carry a typing error in an xn-- label; tests check each is a known TLD).
_IDN_CCTLDS = {
    "рф": "RU",
    "укр": "UA",
    "бел": "BY",
    "срб": "RS",  # noqa: RUF001
    "мкд": "MK",
    "қаз": "KZ",
    "мон": "MN",
    "бг": "BG",  # noqa: RUF001
    "中国": "CN",
    "中國": "CN",
    "香港": "HK",
    "台湾": "TW",
    "台灣": "TW",
    "澳門": "MO",
    "한국": "KR",
    "ไทย": "TH",
    "ελ": "GR",
    "გე": "GE",
    "հայ": "AM",
    "ישראל": "IL",
    "مصر": "EG",
    "السعودية": "SA",
    "امارات": "AE",
    "ایران": "IR",
    "قطر": "QA",
    "الاردن": "JO",
    "تونس": "TN",
    "المغرب": "MA",
    "الجزائر": "DZ",
    "فلسطين": "PS",
    "عمان": "OM",
    "سورية": "SY",
    "عراق": "IQ",
    "سودان": "SD",
    "مليسيا": "MY",
    "پاکستان": "PK",
    "بھارت": "IN",
    "भारत": "IN",
    "ලංකා": "LK",
    "இலங்கை": "LK",
    "சிங்கப்பூர்": "SG",
    "新加坡": "SG",
    "বাংলা": "BD",
    "ລາວ": "LA",
}
# ccTLDs that are not the country's ISO 3166 code.
_CCTLD_EXCEPTIONS = {"uk": "GB"}

_HASH_ALGORITHMS = {
    ObservableType.MD5: ("MD5", 128),
    ObservableType.SHA1: ("SHA-1", 160),
    ObservableType.SHA256: ("SHA-256", 256),
    ObservableType.SHA512: ("SHA-512", 512),
}
_PHONE_TYPES = {
    value: name.lower()
    for name, value in vars(phonenumbers.PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}


@dataclass(frozen=True)
class EnrichmentSummary:
    """What one enrichment run added (rows already present and unchanged are not counted)."""

    observables: int
    flags: int
    enrichments: int
    jurisdictions: int


@dataclass
class _Facts:
    """What the shipped data says about one observable, before comparing with what is stored."""

    flags: list[tuple[str, str, str]] = field(default_factory=list)  # source, name, version
    # kind, data, source, source version
    enrichments: list[tuple[str, dict[str, Any], str, str]] = field(default_factory=list)
    countries: list[tuple[str, str, str]] = field(default_factory=list)  # iso2, reason, source


# --------------------------------------------------------------------------- shipped data


@functools.cache
def _geoip() -> Any:
    return geoip2fast.GeoIP2Fast(geoip2fast_data_file=_GEOIP_FILE)


@functools.cache
def _geoip_version() -> str:
    return f"{geoip2fast.__version__} {_geoip().source_info}"


@functools.cache
def _icann_psl() -> PublicSuffixList:
    # The ICANN section says what was registered; the private one, which service a name is
    # under (duckdns.org, github.io).
    return PublicSuffixList(only_icann=True)


@functools.cache
def _full_psl() -> PublicSuffixList:
    return PublicSuffixList()


@functools.cache
def _versions() -> dict[str, str]:
    return {
        "publicsuffixlist": metadata.version("publicsuffixlist"),
        "phonenumbers": metadata.version("phonenumbers"),
        _OWN_SOURCE: cyberfusion.__version__,
        "ipaddress": f"Python {platform.python_version()}",
    }


@functools.cache
def _cctld_table() -> dict[str, str]:
    table = dict(_CCTLD_EXCEPTIONS)
    for label, iso2 in _IDN_CCTLDS.items():
        table[idna.encode(label).decode("ascii")] = iso2
    return table


def cctld_country(tld: str) -> str | None:
    """The ISO 3166 country of a ccTLD ('fr' -> 'FR', 'uk' -> 'GB', 'xn--p1ai' -> 'RU'), or None
    for generic and non-country TLDs ('com', 'eu', 'su')."""
    found = _cctld_table().get(tld)
    if found is not None:
        return found
    if len(tld) == 2 and tld.isascii() and tld.isalpha():
        country = pycountry.countries.get(alpha_2=tld.upper())
        return str(country.alpha_2) if country is not None else None
    return None


def warm_up() -> None:
    """Load the warninglists and the geolocation data now rather than at the first enrichment,
    here and in the worker processes (`Ahead`), which start now too."""
    _load_shipped_data()
    pool = _pool()
    if pool is not None:
        # Each worker loads the data as it starts; waiting for one answer waits for that.
        try:
            pool.submit(_work_out, []).result()
        except BrokenProcessPool:
            # As `multiprocessing` requires, a script must guard its main module (`if __name__
            # == "__main__":`), which each worker imports; batches go on in this process.
            log.warning("the enrichment worker process did not start; enriching in-process")
            _discard_pool(pool)


def _load_shipped_data() -> None:
    warninglist.get()
    _geoip()


# --------------------------------------------------------------------------- facts


_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _ipv4_special_starts() -> tuple[list[int], list[int]]:
    """Starts and ends (integers, in order) of the IPv4 space covered by the blocks that the
    `ipaddress` properties `_special_purpose` asks about look at: outside all of them an
    address is global unicast, whatever the Python version's exact rules inside them."""
    constants: Any = ipaddress.IPv4Address._constants  # type: ignore[attr-defined]
    blocks: list[ipaddress.IPv4Network] = [_SHARED]
    for name in dir(constants):
        found = getattr(constants, name)
        items = found if isinstance(found, list | tuple) else [found]
        for item in items:
            if isinstance(item, ipaddress.IPv4Network):
                blocks.append(item)
            elif isinstance(item, ipaddress.IPv4Address):
                blocks.append(ipaddress.IPv4Network(item))
    # Merged into disjoint spans (blocks nest: 192.0.0.0/29 in 192.0.0.0/24).
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted((int(b.network_address), int(b.broadcast_address)) for b in blocks):
        if ends and start <= ends[-1] + 1:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _outside_special_ipv4(ip: ipaddress.IPv4Address) -> bool:
    starts, ends = _ipv4_special_starts()
    number = int(ip)
    at = bisect.bisect_right(starts, number)
    return at == 0 or ends[at - 1] < number


def _special_purpose(ip: _Address | _Network) -> str | None:
    """The flag name for an address or block outside the global unicast space, else None."""
    # Most addresses are global unicast: settle them first, an IPv4 address by one search of
    # the special blocks, since each property below scans the IANA registries again.
    if isinstance(ip, ipaddress.IPv4Address) and _outside_special_ipv4(ip):
        return None
    if ip.is_global and not ip.is_multicast and not ip.is_reserved:
        return None
    if isinstance(ip, ipaddress.IPv4Address):
        shared = ip in _SHARED
        unspecified = ip.is_unspecified
    else:
        shared = isinstance(ip, ipaddress.IPv4Network) and ip.subnet_of(_SHARED)
        unspecified = isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address) and (
            ip.is_unspecified
        )
    checks = (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (unspecified, "unspecified"),
        (ip.is_reserved, "reserved"),
        (shared, "shared address space"),
    )
    for applies, category in checks:
        if applies:
            return f"Special-purpose address ({category})"
    return "Special-purpose address (private-use or special-purpose)"


@functools.lru_cache(maxsize=1 << 16)
def _range(cidr: str) -> _Network:
    # The geolocation data answers with a few hundred thousand ranges, the same ones for the
    # many addresses of a batch that fall in them: parse each once.
    return ipaddress.ip_network(cidr, strict=False)


def _within(ip: _Address | _Network, cidr: str) -> bool:
    """Whether the address or block lies inside `cidr` (a range of the geolocation data)."""
    if not cidr:
        return False
    outer = _range(cidr)
    if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return ip.version == outer.version and ip in outer
    if isinstance(ip, ipaddress.IPv4Network):
        return isinstance(outer, ipaddress.IPv4Network) and ip.subnet_of(outer)
    return isinstance(outer, ipaddress.IPv6Network) and ip.subnet_of(outer)


def _parse_ip(value: str) -> _Address | _Network | None:
    """An address, or a block (with a "/"); IPv4-mapped IPv6 as the IPv4 it carries."""
    try:
        if "/" not in value:
            address = ipaddress.ip_address(value)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                return address.ipv4_mapped
            return address
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network


def _ip_facts(facts: _Facts, value: str, *, flag: bool) -> None:
    ip = _parse_ip(value)
    if ip is None:
        return
    special = _special_purpose(ip)
    if special is not None:
        # Private and reserved addresses are nobody's country: flag them, locate nothing.
        if flag:
            facts.flags.append((FlagSource.SPECIAL_PURPOSE, special, _versions()["ipaddress"]))
        return
    block = ip if isinstance(ip, ipaddress.IPv4Network | ipaddress.IPv6Network) else None
    first = block.network_address if block is not None else ip
    result = _geoip().lookup(str(first))
    if result.is_private or not result.cidr:
        return
    version = _geoip_version()
    country = result.country_code
    # A block that spans several ranges of the data has no single country.
    located = block is None or _within(block, result.cidr)
    if located and len(country) == 2 and country.isalpha():
        facts.enrichments.append(
            (
                EnrichmentKind.GEO,
                {"country": country, "country_name": result.country_name, "network": result.cidr},
                "geoip2fast",
                version,
            )
        )
        facts.countries.append((country, JurisdictionReason.HOSTED_IN, "geoip2fast"))
    # geoip2fast 1.2 with IPv6 data checks an IPv4 address against its AS prefix as if it
    # were IPv6, and can answer the prefix before it: check containment here.
    if result.asn_name and result.asn_name != "<unknown>" and _within(ip, result.asn_cidr):
        # The shipped data names the AS organisation and its announced prefix; it carries no
        # AS number.
        facts.enrichments.append(
            (
                EnrichmentKind.ASN,
                {"as_organisation": result.asn_name, "as_network": result.asn_cidr},
                "geoip2fast",
                version,
            )
        )


def _domain_facts(facts: _Facts, domain: str) -> None:
    enrichment, country = _domain_answer(domain)
    facts.enrichments.append(enrichment)
    if country is not None:
        facts.countries.append((country, JurisdictionReason.CCTLD_OF, "publicsuffixlist"))


@functools.lru_cache(maxsize=1 << 16)
def _domain_answer(
    domain: str,
) -> tuple[tuple[str, dict[str, Any], str, str], str | None]:
    """The domain enrichment of a name and its ccTLD country. Cached: a batch names the same
    hosts again and again (a URL's host, then the host itself as the URL's link target). The
    data is shared between the answers and must not be changed."""
    registered = _icann_psl().privatesuffix(domain)
    if isinstance(registered, str):
        suffix: str | None = registered.partition(".")[2]
    else:
        found = _icann_psl().publicsuffix(domain)
        suffix = found if isinstance(found, str) else None
    owner = owner_domain(domain)
    # Set when the name lives under a service of the private section of the list (dynamic
    # DNS, hosting): 'duckdns.org' for 'evil.duckdns.org'.
    owner_suffix = owner.partition(".")[2] if owner is not None else None
    tld = domain.rsplit(".", 1)[-1]
    country = cctld_country(tld)
    enrichment = (
        EnrichmentKind.DOMAIN.value,
        {
            "registered_domain": registered if isinstance(registered, str) else None,
            "public_suffix": suffix,
            "service_suffix": owner_suffix if owner_suffix != suffix else None,
            "tld": tld,
            "cctld_country": country,
        },
        "publicsuffixlist",
        _versions()["publicsuffixlist"],
    )
    return enrichment, country


# Plain strings and a plain mapping: an enum's `.value` and its lookup by value are Python
# calls, and these run per value of a batch.
_IPV4 = ObservableType.IPV4.value
_IPV6 = ObservableType.IPV6.value
_DOMAIN = ObservableType.DOMAIN.value
_TYPES = {kind.value: kind for kind in ObservableType}


@functools.lru_cache(maxsize=1 << 16)
def owner_domain(name: str) -> str | None:
    """The name its owner registered: 'evil.example.co.uk' -> 'example.co.uk', and below a
    service of the private section of the public suffix list, the customer's name
    ('a.b.someone.github.io' -> 'someone.github.io'). None for a public suffix itself."""
    found = _full_psl().privatesuffix(name)
    return found if isinstance(found, str) else None


def url_host(url: str) -> tuple[str, str]:
    """(observable type, host) of a normalised URL: a domain name, an IPv4 or an IPv6 address."""
    host = urlsplit(url).hostname or ""
    # The normaliser leaves three host shapes: a name, a dotted quad, an IPv6 address.
    if ":" in host:
        return _IPV6, host
    if host.replace(".", "").isdigit():
        return _IPV4, host
    return _DOMAIN, host


_URL = ObservableType.URL.value
_EMAIL = ObservableType.EMAIL.value


def parent_value(obs_type: str, value: str) -> tuple[str, str] | None:
    """(type, value) of the value this one names: a URL's host, an e-mail address's domain, a
    name's registered domain (None for the registered domain itself). Correlation links each
    value to it."""
    if obs_type == _URL:
        host_type, host = url_host(value)
        return (host_type, host) if host else None
    if obs_type == _DOMAIN:
        owner = owner_domain(value)
        return None if owner is None or owner == value else (_DOMAIN, owner)
    if obs_type == _EMAIL:
        domain = value.rpartition("@")[2]
        return (_DOMAIN, domain) if domain else None
    return None


def _url_facts(facts: _Facts, url: str) -> None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host_type, host = url_host(url)
    facts.enrichments.append(
        (
            EnrichmentKind.URL,
            {"scheme": parts.scheme, "host": host, "host_type": host_type, "port": port},
            _OWN_SOURCE,
            _versions()[_OWN_SOURCE],
        )
    )
    if host_type == _DOMAIN:
        _domain_facts(facts, host)
    else:
        _ip_facts(facts, host, flag=False)


def _phone_facts(facts: _Facts, value: str) -> None:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return
    region = phonenumbers.region_code_for_number(number)
    # "001" is the region of non-geographic numbers (+800, +882, ...): no country.
    country = region if region and len(region) == 2 else None
    facts.enrichments.append(
        (
            EnrichmentKind.PHONE,
            {
                "country": country,
                "calling_code": number.country_code,
                "number_type": _PHONE_TYPES.get(phonenumbers.number_type(number), "unknown"),
                "valid": phonenumbers.is_valid_number(number),
            },
            "phonenumbers",
            _versions()["phonenumbers"],
        )
    )
    if country is not None:
        facts.countries.append((country, JurisdictionReason.PHONE_NUMBER_OF, "phonenumbers"))


def _wallet_data(obs_type: ObservableType, value: str) -> dict[str, Any]:
    if obs_type is ObservableType.BTC:
        if value.startswith("bc1q"):
            address_type = "p2wpkh" if len(value) == 42 else "p2wsh"
        elif value.startswith("bc1p"):
            address_type = "p2tr"
        elif value.startswith("bc1"):
            address_type = "segwit"
        else:
            address_type = "p2pkh" if value.startswith("1") else "p2sh"
        return {"chain": "bitcoin", "currency": "BTC", "address_type": address_type}
    if obs_type is ObservableType.ETH:
        # The same address is valid on every EVM chain (BNB Smart Chain, Polygon, ...).
        return {"chain": "ethereum", "currency": "ETH", "address_type": "account", "evm": True}
    if len(value) == 106:
        address_type = "integrated"
    else:
        address_type = "subaddress" if value.startswith("8") else "standard"
    return {"chain": "monero", "currency": "XMR", "address_type": address_type}


def _facts(obs_type: str, value: str, lists: warninglist.Warninglists) -> _Facts:
    facts = _Facts()
    kind = _TYPES.get(obs_type)
    if kind is None:
        return facts
    for name in lists.match(kind, value):
        facts.flags.append((FlagSource.WARNINGLIST, name, lists.info(name).version))
    own = (_OWN_SOURCE, _versions()[_OWN_SOURCE])
    if kind is ObservableType.IPV4 or kind is ObservableType.IPV6:
        _ip_facts(facts, value, flag=True)
    elif kind is ObservableType.DOMAIN:
        _domain_facts(facts, value)
    elif kind is ObservableType.URL:
        _url_facts(facts, value)
    elif kind is ObservableType.EMAIL:
        domain = value.rpartition("@")[2]
        facts.enrichments.append((EnrichmentKind.EMAIL, {"domain": domain}, *own))
        _domain_facts(facts, domain)
    elif kind in _HASH_ALGORITHMS:
        algorithm, bits = _HASH_ALGORITHMS[kind]
        facts.enrichments.append(
            (EnrichmentKind.HASH, {"algorithm": algorithm, "bits": bits}, *own)
        )
    elif kind in (ObservableType.BTC, ObservableType.ETH, ObservableType.XMR):
        facts.enrichments.append((EnrichmentKind.WALLET, _wallet_data(kind, value), *own))
    elif kind is ObservableType.PHONE:
        _phone_facts(facts, value)
    elif kind is ObservableType.IBAN:
        country = value[:2]
        facts.enrichments.append((EnrichmentKind.IBAN, {"country": country}, *own))
        facts.countries.append((country, JurisdictionReason.BANK_ACCOUNT_IN, _OWN_SOURCE))
    return facts


# --------------------------------------------------------------------------- storing


def _chunks(values: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _among(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """`column IN ids` for sorted ids; a range when they are dense, as the new observables of
    one intake are: two parameters instead of thousands. Rows outside `ids` may come back, and
    callers look rows up by the ids they want."""
    if ids[-1] - ids[0] < 4 * len(ids):
        condition: ColumnElement[bool] = column.between(ids[0], ids[-1])
        return condition
    return in_ids(session, column, ids)


def _member_countries(session: Session) -> frozenset[str]:
    return frozenset(session.scalars(select(Country.iso2).where(Country.is_member.is_(True))))


def _current_versions(
    session: Session, ids: Sequence[int]
) -> dict[tuple[int, str], tuple[int, str, str]]:
    """(observable, kind) -> (id, source, source version) of the current enrichment rows."""
    latest = (
        select(func.max(Enrichment.id))
        .where(_among(session, Enrichment.observable_id, ids))
        .group_by(Enrichment.observable_id, Enrichment.kind)
    )
    return {
        (row.observable_id, row.kind): (row.id, row.source, row.source_version)
        for row in session.execute(
            select(
                Enrichment.id,
                Enrichment.observable_id,
                Enrichment.kind,
                Enrichment.source,
                Enrichment.source_version,
            ).where(Enrichment.id.in_(latest))
        )
    }


# --------------------------------------------------------------------------- facts ahead

_pool_lock = threading.Lock()
_pool_state: dict[str, ProcessPoolExecutor] = {}
# Seconds between a worker's checks that the process that started it is still there.
_WATCH_SECONDS = 2.0


def _pool() -> ProcessPoolExecutor | None:
    """The worker processes (`CYBERFUSION_ENRICHMENT_PROCESSES`, None for none), started at
    first use, each loading the shipped data once. Started by a fork server, not forked from
    this process: it holds database connections and threads."""
    count = get_settings().enrichment_processes
    if count < 1:
        return None
    with _pool_lock:
        pool = _pool_state.get("pool")
        if pool is None:
            context = multiprocessing.get_context("forkserver")
            # The server imports this module once; the workers are forked from it with it.
            context.set_forkserver_preload([__name__])
            pool = ProcessPoolExecutor(
                max_workers=count,
                mp_context=context,
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
            _pool_state["pool"] = pool
        return pool


def shutdown_workers() -> None:
    """Stop the worker processes (at exit, and when a server's jobs stop); the next large
    batch starts new ones."""
    with _pool_lock:
        pool = _pool_state.pop("pool", None)
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown_workers)


def _start_worker(parent: int) -> None:
    """In a worker process: load the shipped data, and end the process when the one that
    started the pool is gone without stopping it (killed): the worker would otherwise wait
    for work for ever."""

    def watch() -> None:
        while True:
            time.sleep(_WATCH_SECONDS)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                # The number belongs to a process of another user: not ours, so ours is gone.
                os._exit(0)

    threading.Thread(target=watch, name="enrichment-parent-watch", daemon=True).start()
    _load_shipped_data()


def _discard_pool(pool: ProcessPoolExecutor) -> None:
    """Forget a broken pool (a worker died); the next large batch starts a new one."""
    with _pool_lock:
        if _pool_state.get("pool") is pool:
            del _pool_state["pool"]
    pool.shutdown(wait=False, cancel_futures=True)


# What a worker sends back per observable: id, flags, enrichments, countries (see `_Facts`;
# None when its facts were not asked for) and `parent_value`.
_WorkedOut = tuple[
    int,
    list[tuple[str, str, str]] | None,
    list[tuple[str, dict[str, Any], str, str]],
    list[tuple[str, str, str]],
    tuple[str, str] | None,
]


def _work_out(items: list[tuple[int, str, str, bool]]) -> list[_WorkedOut]:
    """Facts (for the items that ask for them) and parent values of (id, type, value, facts?)
    items: what `Ahead` runs, in a worker process or in this one."""
    lists = warninglist.get()
    out: list[_WorkedOut] = []
    # The collector would walk the shipped data again and again (a worker holds little
    # else): with it, a worker took 1.7 times as long.
    with collector.paused():
        for obs_id, obs_type, value, wanted in items:
            parent = parent_value(obs_type, value)
            if wanted:
                found = _facts(obs_type, value, lists)
                out.append((obs_id, found.flags, found.enrichments, found.countries, parent))
            else:
                out.append((obs_id, None, [], [], parent))
    return out


@dataclass
class _Chunk:
    """One chunk of a batch: its observables as stored, and the answers being worked out."""

    ids: Sequence[int]
    # (id, type, value, facts wanted?) of the chunk's stored observables; no facts for those
    # enriched before, without a refresh
    items: list[tuple[int, str, str, bool]]
    answer: Future[list[_WorkedOut]] | None  # None: worked out in this process, when asked


class Ahead:
    """What the shipped data says about a batch of observables (their facts, and the value each
    names: `parent_value`), worked out ahead of the enrichment that stores it. For a batch of
    `_POOL_MIN` observables or more, a worker process works the chunks out while the
    transaction goes on with other work (the correlation job assesses corroboration
    meanwhile): the facts are pure functions of the values, and the job's own process is busy
    with the database. Smaller batches, or with no worker configured, are worked out in this
    process when the enrichment asks. Chunks are read and handed over `_WINDOW` at a time.

    Made by `look_ahead`, used by one `enrich_observables` of the same observables (and by the
    correlation's links, for the parent values), in the same transaction."""

    def __init__(self, session: Session, ids: Sequence[int], *, refresh: bool) -> None:
        self.ids = list(ids)
        self.refresh = refresh
        self._pool = _pool() if len(self.ids) >= _POOL_MIN else None
        self._bounds = [
            (start, min(start + _CHUNK, len(self.ids))) for start in range(0, len(self.ids), _CHUNK)
        ]
        self._chunks: dict[int, _Chunk] = {}  # read, not taken yet
        self._next = 0  # the first chunk not read yet
        self._parents: dict[int, tuple[str, str] | None] = {}
        while self._next < min(_WINDOW, len(self._bounds)):
            self._read(session, self._next)

    @property
    def in_worker(self) -> bool:
        """Whether a worker process works the chunks out."""
        return self._pool is not None

    def _read(self, session: Session, index: int) -> None:
        start, end = self._bounds[index]
        ids = self.ids[start:end]
        wanted = set(ids)
        rows = [
            (row[0], row[1], row[2])
            for row in plain(session).execute(
                select(Observable.id, Observable.obs_type, Observable.value).where(
                    _among(session, Observable.id, ids)
                )
            )
            if row[0] in wanted
        ]
        done: set[int] = set()
        if not self.refresh:
            # Observables enriched before keep their answers until a refresh; only who
            # reported them can have changed.
            for table in (Enrichment, ObservableFlag):
                done.update(
                    plain(session).scalars(
                        select(table.observable_id)
                        .where(_among(session, table.observable_id, ids))
                        .distinct()
                    )
                )
        items = [(obs_id, obs_type, value, obs_id not in done) for obs_id, obs_type, value in rows]
        answer: Future[list[_WorkedOut]] | None = None
        if self._pool is not None:
            try:
                answer = self._pool.submit(_work_out, items)
            except (BrokenProcessPool, RuntimeError):
                self._give_up_pool()
        self._chunks[index] = _Chunk(ids, items, answer)
        self._next = index + 1

    def take(self, session: Session) -> tuple[_Chunk, dict[int, _Facts]] | None:
        """A chunk not taken yet and the facts of its observables that need them; None when
        every chunk was taken. The worker goes through the chunks from the first; this process
        takes what the worker has finished, else works out the last chunk the worker has not
        started, so that both processes work until the batch is done. Each chunk taken lets
        one more be read and handed over."""
        if not self._chunks:
            return None
        first, last = min(self._chunks), max(self._chunks)
        index = first
        front = self._chunks[first].answer
        if front is not None and not front.done() and last != first:
            back = self._chunks[last].answer
            if back is not None and back.cancel():
                self._chunks[last].answer = None
                index = last
        part = self._chunks.pop(index)
        if self._next < len(self._bounds):
            self._read(session, self._next)
        facts: dict[int, _Facts] = {}
        for obs_id, flags, enrichments, countries, parent in self._answers(part):
            self._parents[obs_id] = parent
            if flags is not None:
                facts[obs_id] = _Facts(flags, enrichments, countries)
        return part, facts

    def _answers(self, part: _Chunk) -> list[_WorkedOut]:
        if part.answer is None or self._pool is None:
            return _work_out(part.items)
        try:
            while True:
                try:
                    return part.answer.result(timeout=_PROBE_SECONDS)
                except TimeoutError:
                    # Python 3.11 can leave a future unanswered when its worker dies just as
                    # work is handed over; a pool that refuses work is broken.
                    self._pool.submit(_work_out, [])
        except (BrokenProcessPool, CancelledError, RuntimeError):
            # Broken, or shut down by another batch that found it broken.
            self._give_up_pool()
            return _work_out(part.items)

    def _give_up_pool(self) -> None:
        """A worker died (killed, out of memory): the batch goes on in this process, and the
        next large batch starts a new pool."""
        log.warning("an enrichment worker process died; working the batch out here")
        if self._pool is not None:
            _discard_pool(self._pool)
        self._pool = None
        for part in self._chunks.values():
            part.answer = None

    def parent(self, obs_id: int, obs_type: str, value: str) -> tuple[str, str] | None:
        """`parent_value` of an observable of the batch (worked out already for those whose
        chunk was read back), of any other as asked."""
        if obs_id in self._parents:
            return self._parents[obs_id]
        return parent_value(obs_type, value)


def look_ahead(*, session: Session, observable_ids: Iterable[int], refresh: bool) -> Ahead:
    """Start working out the facts of these observables (see `Ahead`); pass the result to
    `enrich_observables` with the same ids and refresh."""
    return Ahead(session, sorted(set(observable_ids)), refresh=refresh)


# --------------------------------------------------------------------------- storing


@dataclass
class _Stored:
    """What the database holds of one chunk's flags, enrichments and countries."""

    flagged: set[tuple[int, str, str]]
    current: dict[tuple[int, str], tuple[int, str, str]]
    placed: set[tuple[int, str, str]]


def _read_stored(session: Session, ids: Sequence[int], *, refresh: bool) -> _Stored:
    flagged: set[tuple[int, str, str]] = set()
    current: dict[tuple[int, str], tuple[int, str, str]] = {}
    if refresh:
        # Without a refresh, the observables looked up have neither flags nor enrichment rows
        # (those that have are `done` and get no facts).
        flagged = set(
            session.execute(
                select(
                    ObservableFlag.observable_id, ObservableFlag.source, ObservableFlag.name
                ).where(_among(session, ObservableFlag.observable_id, ids))
            )
        )
        current = _current_versions(session, ids)
    placed: set[tuple[int, str, str]] = set(
        plain(session).execute(
            select(
                Jurisdiction.observable_id, Jurisdiction.country_code, Jurisdiction.reason
            ).where(_among(session, Jurisdiction.observable_id, ids))
        )
    )
    return _Stored(flagged, current, placed)


def _chunk_rows(
    session: Session,
    facts: dict[int, _Facts],
    held: _Stored,
    members: frozenset[str],
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The new flag, enrichment and jurisdiction rows of a chunk."""
    flagged, current, placed = held.flagged, held.current, held.placed
    new_flags: list[dict[str, Any]] = []
    new_enrichments: list[dict[str, Any]] = []
    new_places: list[dict[str, Any]] = []
    # (current row, observable, kind, data, source, version) of answers from other data versions
    candidates: list[tuple[int | None, int, str, dict[str, Any], str, str]] = []
    for observable_id, found in facts.items():
        for source, name, version in found.flags:
            if (observable_id, source, name) not in flagged:
                flagged.add((observable_id, source, name))
                new_flags.append(
                    {
                        "observable_id": observable_id,
                        "source": str(source),
                        "name": name,
                        "data_version": version,
                        "created_at": now,
                    }
                )
        for kind, data, source, version in found.enrichments:
            stored = current.get((observable_id, kind))
            if stored is not None and stored[1:] == (source, version):
                # The same data version gives the same answer: nothing to compare.
                continue
            candidates.append(
                (stored[0] if stored else None, observable_id, kind, data, source, version)
            )
        for country, reason, source in found.countries:
            # Jurisdiction routes reports to member countries; others are in the enrichment.
            if country not in members or (observable_id, country, reason) in placed:
                continue
            placed.add((observable_id, country, reason))
            new_places.append(
                {
                    "observable_id": observable_id,
                    "country_code": country,
                    "reason": str(reason),
                    "source": source,
                    "created_at": now,
                }
            )
    # Another data version may still give the same answer: a new row only if it differs.
    previous_ids = [row_id for row_id, *_ in candidates if row_id is not None]
    previous: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(previous_ids, _CHUNK):
        previous.update(
            (row.id, row.data)
            for row in session.execute(
                select(Enrichment.id, Enrichment.data).where(in_ids(session, Enrichment.id, chunk))
            )
        )
    for row_id, observable_id, kind, data, source, version in candidates:
        if row_id is not None and previous.get(row_id) == data:
            continue
        new_enrichments.append(
            {
                "observable_id": observable_id,
                "kind": str(kind),
                "data": data,
                "source": source,
                "source_version": version,
                "created_at": now,
            }
        )
    return new_flags, new_enrichments, new_places


def enrich_observables(
    *,
    session: Session,
    observable_ids: Iterable[int],
    refresh: bool = True,
    ahead: Ahead | None = None,
) -> EnrichmentSummary:
    """Flag, enrich and place the given observables; safe to run again at any time.

    Adds what is new only: a flag the observable does not have yet (an overridden flag stays
    overridden), an enrichment whose answer differs from the current one (computed again when
    its data version changed; the old row stays as history), a (country, reason) not yet
    recorded. Countries come from the address's location, the ccTLD, the phone plan and the
    IBAN; only member countries are recorded. The reporting organisations' countries are not
    stored: `describe` and the readers read them from the occurrences the reader may read.

    With refresh=False, observables that already have an enrichment or a flag are not looked
    up again (intake: the same values come back every day). `ahead`, from `look_ahead` with
    the same ids and refresh, brings facts worked out ahead. Ids of unknown observables are
    ignored. Never commits.
    """
    ids = sorted(set(observable_ids))
    if not ids:
        return EnrichmentSummary(0, 0, 0, 0)
    if ahead is None:
        ahead = Ahead(session, ids, refresh=refresh)
    elif ahead.ids != ids or ahead.refresh != refresh:
        raise ValueError("the facts worked out ahead are for other observables or another refresh")
    members = _member_countries(session)
    now = utcnow()
    totals = [0, 0, 0, 0]
    # A pipeline over chunks of disjoint observables, in the order `ahead` hands them over:
    # the database stores one chunk's rows (write_behind) while the next chunk's are worked
    # out; each chunk's reads are made before the previous chunk's rows are handed over, so
    # they never wait for them.

    def next_chunk() -> tuple[_Chunk, dict[int, _Facts], _Stored] | None:
        taken = ahead.take(session)
        if taken is None:
            return None
        part, facts = taken
        return part, facts, _read_stored(session, part.ids, refresh=refresh)

    with write_behind(session) as writer:
        current = next_chunk()
        while current is not None:
            part, facts, stored = current
            flags, enrichments, places = _chunk_rows(session, facts, stored, members, now)
            totals[0] += len(part.items)
            current = next_chunk()
            for model, values in (
                (ObservableFlag, flags),
                (Enrichment, enrichments),
                (Jurisdiction, places),
            ):
                writer.insert(model.__tablename__, values)
            totals[1] += len(flags)
            totals[2] += len(enrichments)
            totals[3] += len(places)
    return EnrichmentSummary(*totals)


def enrich_submission(*, session: Session, submission_id: int) -> EnrichmentSummary:
    """What intake calls once a submission's occurrences are recorded, in the same transaction:
    `enrich_observables(refresh=False)` for every observable the submission reported."""
    ids = session.scalars(
        select(Occurrence.observable_id).where(Occurrence.submission_id == submission_id).distinct()
    ).all()
    return enrich_observables(session=session, observable_ids=ids, refresh=False)


# --------------------------------------------------------------------------- flags


def noise_condition(observable_id: Any) -> ColumnElement[bool]:
    """SQL condition: the observable (an id column or value) has a flag no analyst overrode.
    Correlation alerts and products leave such observables out: `.where(~noise_condition(c))`."""
    return exists().where(
        and_(ObservableFlag.observable_id == observable_id, ObservableFlag.overridden_at.is_(None))
    )


def override_flag(*, session: Session, actor: Actor, flag_id: int) -> ObservableFlag:
    """An analyst decides a flagged observable is not noise here: its flag stops counting.

    Needs intel:object:validate and sight of a report of the observable (else 404, as for any
    record the actor cannot read). Audited.
    """
    actor.require(Permission.INTEL_OBJECT_VALIDATE)
    flag = session.get(ObservableFlag, flag_id)
    readable = flag is not None and session.scalar(
        select(
            exists().where(
                Occurrence.observable_id == flag.observable_id,
                sharing_service.readable_condition(actor, Occurrence),
            )
        )
    )
    if flag is None or not readable:
        raise NotFound(f"observable flag {flag_id} does not exist", field="flag_id")
    if flag.overridden_at is not None:
        raise Conflict(
            f"observable flag {flag_id} ({flag.source} {flag.name!r}) was already overridden "
            f"by {flag.overridden_by} at {as_utc(flag.overridden_at).isoformat()}",
            field="flag_id",
        )
    flag.overridden_by = actor.label
    flag.overridden_at = utcnow()
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="observable_flag.override",
        target_type="observable_flag",
        target_id=flag.id,
        details={"observable_id": flag.observable_id, "source": flag.source, "name": flag.name},
    )
    return flag


def place_victim(
    *, session: Session, actor: Actor, observable_id: int, country_code: str
) -> Jurisdiction:
    """An analyst records that victims of an observable's activity are in a member country:
    the `victim-in` jurisdiction, which routes the observable to that country's reports.

    Needs intel:object:validate and sight of a report of the observable (else 404). Recording
    the same country again changes nothing. Audited."""
    actor.require(Permission.INTEL_OBJECT_VALIDATE)
    readable = session.scalar(
        select(
            exists().where(
                Occurrence.observable_id == observable_id,
                sharing_service.readable_condition(actor, Occurrence),
            )
        )
    )
    if not readable:
        raise NotFound(f"observable {observable_id} does not exist", field="observable_id")
    code = country_code.strip().upper()
    if code not in _member_countries(session):
        raise ValidationFailed(f"{country_code!r} is not a member country", field="country")
    existing = session.scalar(
        select(Jurisdiction).where(
            Jurisdiction.observable_id == observable_id,
            Jurisdiction.country_code == code,
            Jurisdiction.reason == JurisdictionReason.VICTIM_IN.value,
        )
    )
    if existing is not None:
        return existing
    place = Jurisdiction(
        observable_id=observable_id,
        country_code=code,
        reason=JurisdictionReason.VICTIM_IN.value,
        source=f"analyst:{actor.label}"[:32],
    )
    session.add(place)
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="jurisdiction.victim_in",
        target_type="observable",
        target_id=observable_id,
        details={"country": code},
    )
    return place


# --------------------------------------------------------------------------- reading


def _iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def reporting_countries(
    *, session: Session, actor: Actor, observable_id: int
) -> list[tuple[str, datetime]]:
    """(member country, first report) of the organisations that reported the observable in
    records the actor may read, by country. Not stored: who reported a value is part of a
    record, and a reader who may not read the record learns only that a match exists."""
    rows = session.execute(
        select(Organisation.country_code, func.min(Occurrence.reported_at))
        .join(Organisation, Organisation.id == Occurrence.owner_org_id)
        .join(Country, Country.iso2 == Organisation.country_code)
        .where(
            Occurrence.observable_id == observable_id,
            Country.is_member.is_(True),
            sharing_service.readable_condition(actor, Occurrence),
        )
        .group_by(Organisation.country_code)
        .order_by(Organisation.country_code)
    ).all()
    return [(str(code), first) for code, first in rows]


def describe(*, session: Session, actor: Actor, observable_id: int) -> dict[str, Any]:
    """Flags, current enrichment by kind and jurisdictions of one observable, as JSON-ready data.

    The caller has already decided the actor may see the observable (the lookup does). The
    "reported-by" jurisdictions are those of the reports the actor may read. NotFound if there
    is no such observable.
    """
    if session.get(Observable, observable_id) is None:
        raise NotFound(f"observable {observable_id} does not exist", field="observable_id")
    flags = session.scalars(
        select(ObservableFlag)
        .where(ObservableFlag.observable_id == observable_id)
        .order_by(ObservableFlag.source, ObservableFlag.name)
    ).all()
    enrichments = session.scalars(
        select(Enrichment)
        .where(
            Enrichment.id.in_(
                select(func.max(Enrichment.id))
                .where(Enrichment.observable_id == observable_id)
                .group_by(Enrichment.kind)
            )
        )
        .order_by(Enrichment.kind)
    ).all()
    places = [
        (place.country_code, place.reason, place.source, place.created_at)
        for place in session.scalars(
            select(Jurisdiction).where(Jurisdiction.observable_id == observable_id)
        )
    ]
    places.extend(
        (country, JurisdictionReason.REPORTED_BY.value, "occurrence", first)
        for country, first in reporting_countries(
            session=session, actor=actor, observable_id=observable_id
        )
    )
    places.sort(key=lambda place: (place[0], place[1]))
    return {
        "noise": any(flag.overridden_at is None for flag in flags),
        "flags": [
            {
                "id": flag.id,
                "source": flag.source,
                "name": flag.name,
                "data_version": flag.data_version,
                "created_at": _iso(flag.created_at),
                "overridden_by": flag.overridden_by,
                "overridden_at": _iso(flag.overridden_at),
            }
            for flag in flags
        ],
        "enrichment": {
            row.kind: {
                "data": row.data,
                "source": row.source,
                "source_version": row.source_version,
                "created_at": _iso(row.created_at),
            }
            for row in enrichments
        },
        "jurisdictions": [
            {
                "country": country,
                "reason": reason,
                "source": source,
                "created_at": _iso(created_at),
            }
            for country, reason, source, created_at in places
        ],
    }


def enrichment_history(*, session: Session, observable_id: int, kind: str) -> list[dict[str, Any]]:
    """Every enrichment of one kind of one observable, newest first (the first is current)."""
    rows = session.scalars(
        select(Enrichment)
        .where(Enrichment.observable_id == observable_id, Enrichment.kind == kind)
        .order_by(Enrichment.id.desc())
    ).all()
    return [
        {
            "data": row.data,
            "source": row.source,
            "source_version": row.source_version,
            "created_at": _iso(row.created_at),
        }
        for row in rows
    ]
