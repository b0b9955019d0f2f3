"""MISP warninglists compiled once into a compact on-disk table, and matching observables on it.

`pymispwarninglists` ships 119 lists (2.5 million entries). Loading them with the library takes
seconds and hundreds of MB and then searches exact strings only. Here each list is compiled once
per package version into one binary file under the data directory:

- every string, hostname and substring entry is normalised with our own normaliser for each
  observable type the list applies to (its MISP `matching_attributes`), and stored as a 64-bit
  BLAKE2b hash of "<type>\\0<value>" in one sorted array with a bucket index, with two label
  sets: the lists that match the value exactly and those that also match the names below it,
  behind a CRC-32 Bloom filter that turns most misses away before hashing. A hash collision
  with a value outside the lists has a probability of about 1e-13 per lookup;
- every CIDR entry (and IP entries of other lists) becomes an integer range; overlapping ranges
  of all lists are cut into disjoint segments, each with its label set, searched by bisection
  (IPv4 and IPv6 apart);
- regex entries ('/pattern/flags', PHP syntax) are kept as text and compiled at load;
- the names where ownership changes (see below).

Loading the file takes a few tens of milliseconds and about 50 MB. What each list type means here
(docs/enrichment.md has the full account):

- string: the exact normalised value. An entry starting with "." (as in the Google and
  Microsoft lists) can never equal a normalised name, and means "this domain and its names":
  it is taken as a hostname entry.
- hostname: the name and the names below it, but never across an ownership boundary (the
  public suffix list's private section, and the service lists' dotted names below): 'x.github.io'
  is registered by someone else than 'github.io', so a list naming that does not flag it.
- substring: the lists of this type hold host names (sandbox domains, disposable e-mail
  domains); a true substring test would flag '10815.ru' for '0815.ru', so they are taken as
  hostname lists. IP entries in them go to the range table.
- cidr: the address, or for a block every address of it, lies in a listed range.
- regex: the whole value matches (MISP writes them for whole attribute values); phone numbers
  are tried in E.164 and in national form.

Lists that name services whose users pick the names or addresses below them (dynamic DNS, URL
shorteners, link-in-bio pages, IPFS gateways, disposable e-mail, living-off-trusted-sites) only
flag the service's own name, and where they write a name with a leading dot ('.duckdns.org',
'.cloudapp.azure.com') no list speaks for the names below it: 'x.eastus.cloudapp.azure.com' is
not Microsoft's because azure.com is a top site. Tranco's top million matches names exactly:
its long tail holds free-subdomain services and busy criminal hosts.
A URL is matched by its host only when it is the site's root ('https://google.com/'): a URL with
a path on a popular host ('https://drive.google.com/file/d/...') is a specific artefact, not
noise, so lists that declare 'url' apply to root URLs only.
"""

from __future__ import annotations

import array
import bisect
import functools
import hashlib
import ipaddress
import json
import os
import re
import socket
import struct
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import phonenumbers
import publicsuffixlist

from cyberfusion.core.config import get_settings
from cyberfusion.observable.normalize import InvalidObservable, normalise_refanged
from cyberfusion.observable.types import ObservableType

__all__ = [
    "FORMAT_VERSION",
    "LONG_TAIL_LISTS",
    "SERVICE_LISTS",
    "ListInfo",
    "WarninglistFormatError",
    "Warninglists",
    "compile_lists",
    "compiled_path",
    "get",
    "load",
    "package_version",
    "shipped_lists_dir",
]

FORMAT_VERSION = 5
_MAGIC = b"CFWL"

# MISP attribute types -> the observable types they stand for. Types we do not store
# (sha224, ssdeep, azure-application-id, ...) are left out: lists of only those match nothing.
_IPS = (ObservableType.IPV4, ObservableType.IPV6)
_MISP_TYPES: dict[str, tuple[ObservableType, ...]] = {
    "ip-src": _IPS,
    "ip-dst": _IPS,
    "ip-src|port": _IPS,
    "ip-dst|port": _IPS,
    "domain|ip": (ObservableType.DOMAIN, *_IPS),
    "domain": (ObservableType.DOMAIN,),
    "hostname": (ObservableType.DOMAIN,),
    "hostname|port": (ObservableType.DOMAIN,),
    "url": (ObservableType.URL,),
    "uri": (ObservableType.URL,),
    "email": (ObservableType.EMAIL,),
    "email-src": (ObservableType.EMAIL,),
    "email-dst": (ObservableType.EMAIL,),
    "target-email": (ObservableType.EMAIL,),
    "whois-registrant-email": (ObservableType.EMAIL,),
    "dns-soa-email": (ObservableType.EMAIL,),
    "md5": (ObservableType.MD5,),
    "filename|md5": (ObservableType.MD5,),
    "x509-fingerprint-md5": (ObservableType.MD5,),
    "sha1": (ObservableType.SHA1,),
    "filename|sha1": (ObservableType.SHA1,),
    "x509-fingerprint-sha1": (ObservableType.SHA1,),
    "sha256": (ObservableType.SHA256,),
    "filename|sha256": (ObservableType.SHA256,),
    "x509-fingerprint-sha256": (ObservableType.SHA256,),
    "sha512": (ObservableType.SHA512,),
    "filename|sha512": (ObservableType.SHA512,),
    "phone-number": (ObservableType.PHONE,),
    "whois-registrant-phone": (ObservableType.PHONE,),
}

# Lists (by folder name) of services whose users choose the names or addresses below the listed
# name: only the listed name itself is noise. Their entries written with a leading dot
# ('.duckdns.org', '.cloudapp.azure.com') say that the names below belong to the service's
# users: no list speaks for those names (see `Warninglists._is_service_suffix`).
SERVICE_LISTS = frozenset(
    {
        "dynamic-dns",
        "url-shortener",
        "link-in-bio",
        "public-ipfs-gateways",
        "disposable-email",
        "lots-project",
    }
)

# Lists of the long tail of popularity (Tranco's top million): a name there has traffic, not a
# reputation (free subdomain services and busy criminal hosts are in it), and the names below it
# are not vouched for. They match names exactly; the top 10,000 keep hostname matching.
LONG_TAIL_LISTS = frozenset({"tranco"})

_EXACT_TYPES = (
    ObservableType.EMAIL,
    ObservableType.MD5,
    ObservableType.SHA1,
    ObservableType.SHA256,
    ObservableType.SHA512,
    ObservableType.PHONE,
)
_HASH_BY_LENGTH = {
    32: ObservableType.MD5,
    40: ObservableType.SHA1,
    64: ObservableType.SHA256,
    128: ObservableType.SHA512,
}
_HASHES = frozenset(_HASH_BY_LENGTH.values())
_DOMAIN_PREFIX = ObservableType.DOMAIN.value.encode() + b"\0"
_TYPES: dict[str, ObservableType] = {obs_type.value: obs_type for obs_type in ObservableType}
# Distinct (lists, type) answers kept; real data has a few thousand.
_NAMES_CACHE = 100_000
_BUCKET_BITS = 18
# A one-hash Bloom filter on CRC-32 in front of the table: most values are on no list, and
# CRC-32 costs a fifth of BLAKE2b. 2**26 bits for 2.5 million keys: 3.5% of misses pass it.
# It only skips work: BLAKE2b still decides, so a crafted CRC collision gains nothing.
_BLOOM_BITS = 1 << 26
# The same for the keys that cover names below them (about 100,000): the parents of a name are
# looked up only for those.
_BELOW_BLOOM_BITS = 1 << 23
_SHIFT = 64 - _BUCKET_BITS
_MAPPED_V4 = 0xFFFF << 32
_V6_MAPPED_LOW = _MAPPED_V4
_V6_MAPPED_HIGH = _MAPPED_V4 | 0xFFFFFFFF
_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


class WarninglistFormatError(ValueError):
    """A compiled file that is not one, or of another format version; `path` says which."""

    def __init__(self, *, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class ListInfo:
    """One MISP warninglist as compiled: what it is and what came of its entries."""

    slug: str  # the list's folder in misp-warninglists, e.g. "cloudflare"
    name: str  # the list's own name, used as the flag name
    version: str  # the list's own version (MISP lists are versioned one by one)
    list_type: str  # string, substring, hostname, cidr or regex
    description: str
    applies_to: frozenset[ObservableType]
    compiled: int  # entries kept
    skipped: int  # entries that are no valid observable of any type the list applies to


# --------------------------------------------------------------------------- sources


def package_version() -> str:
    """The installed pymispwarninglists version: the compiled file is keyed by it."""
    return metadata.version("pymispwarninglists")


def shipped_lists_dir() -> Path:
    """The lists as the package ships them: lists/<slug>/list.json."""
    import pymispwarninglists

    return Path(pymispwarninglists.__file__).parent / "data" / "misp-warninglists" / "lists"


def compiled_path(data_dir: Path | None = None) -> Path:
    """Where the compiled lists live (in `data_dir`, default the cache directory): keyed by the
    list package, the public suffix list (it decides which entries are valid names) and the file
    format."""
    key = f"{FORMAT_VERSION}|{package_version()}|{metadata.version('publicsuffixlist')}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    directory = data_dir if data_dir is not None else get_settings().cache_dir
    return directory / f"warninglists-{package_version()}-{digest}.bin"


def _read_lists(lists_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(lists_dir.glob("*/list.json")):
        with path.open(encoding="utf-8") as handle:
            yield path.parent.name, json.load(handle)


# --------------------------------------------------------------------------- compiling


def _key_hash(key: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def _key(obs_type: ObservableType, value: str) -> bytes:
    return obs_type.value.encode() + b"\0" + value.encode("utf-8")


def _applies_to(raw: dict[str, Any]) -> frozenset[ObservableType]:
    found: set[ObservableType] = set()
    for misp_type in raw.get("matching_attributes") or ():
        found.update(_MISP_TYPES.get(misp_type, ()))
    return frozenset(found)


def _parse_regex(entry: str) -> tuple[str, int] | None:
    """'/pattern/flags' -> (pattern, re flags); None when Python cannot compile it."""
    match = re.fullmatch(r"/(.*)/([a-zA-Z]*)", entry, re.DOTALL)
    pattern, letters = (match.group(1), match.group(2)) if match else (entry, "")
    flags = 0
    for letter in letters:
        flags |= _REGEX_FLAGS.get(letter, 0)  # "g" (global) and "u" mean nothing for a fullmatch
    try:
        re.compile(pattern, flags)
    except re.error:
        return None
    return pattern, flags


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        network = ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network


@dataclass
class _Builder:
    lists: list[ListInfo] = field(default_factory=list)
    # Key hash -> bit mask of the lists that hold the value exactly, and of those that also
    # cover the names below it. Hashes and masks rather than strings and sets: 2 million keys.
    exact: dict[int, int] = field(default_factory=dict)
    below: dict[int, int] = field(default_factory=dict)
    ranges4: list[tuple[int, int, int]] = field(default_factory=list)  # start, end, list id
    ranges6: list[tuple[int, int, int]] = field(default_factory=list)
    regexes: list[tuple[int, str, int]] = field(default_factory=list)  # list id, pattern, flags
    bloom: bytearray = field(default_factory=lambda: bytearray(_BLOOM_BITS // 8))
    bloom_below: bytearray = field(default_factory=lambda: bytearray(_BELOW_BLOOM_BITS // 8))
    # Names below which the names belong to a service's users (from the service lists).
    services: set[str] = field(default_factory=set)

    def add_key(self, key: bytes, list_id: int, *, suffix: bool) -> None:
        crc = zlib.crc32(key)
        bit = crc & (_BLOOM_BITS - 1)
        self.bloom[bit >> 3] |= 1 << (bit & 7)
        if suffix:
            bit = crc & (_BELOW_BLOOM_BITS - 1)
            self.bloom_below[bit >> 3] |= 1 << (bit & 7)
        # Two values with one hash (about 1e-7 for the whole set) share their lists.
        digest = _key_hash(key)
        bit = 1 << list_id
        self.exact[digest] = self.exact.get(digest, 0) | bit
        if suffix:
            self.below[digest] = self.below.get(digest, 0) | bit

    def add_network(
        self, network: ipaddress.IPv4Network | ipaddress.IPv6Network, list_id: int
    ) -> None:
        start = int(network.network_address)
        end = int(network.broadcast_address)
        target = self.ranges4 if network.version == 4 else self.ranges6
        target.append((start, end, list_id))

    def add_entry(
        self,
        entry: str,
        *,
        list_id: int,
        list_type: str,
        slug: str,
        applies: frozenset[ObservableType],
    ) -> bool:
        """Store one string, hostname or substring entry; False if it is no valid observable of
        any type the list applies to."""
        added = False
        if ObservableType.DOMAIN in applies or ObservableType.URL in applies:
            domain = _domain(entry)
            if domain is not None:
                dotted = entry.strip().startswith(".")
                suffix = (
                    slug not in SERVICE_LISTS
                    and slug not in LONG_TAIL_LISTS
                    and (list_type in ("hostname", "substring") or dotted)
                )
                self.add_key(_key(ObservableType.DOMAIN, domain), list_id, suffix=suffix)
                if dotted and slug in SERVICE_LISTS:
                    self.services.add(domain)
                return True
        if ObservableType.IPV4 in applies or ObservableType.IPV6 in applies:
            network = _network(entry)
            if network is not None:
                self.add_network(network, list_id)
                return True
        # Hash lists hold 200,000 entries each: try only the hash type of the entry's length.
        by_length = _HASH_BY_LENGTH.get(len(entry.strip()))
        for obs_type in _EXACT_TYPES:
            if obs_type not in applies or (obs_type in _HASHES and obs_type is not by_length):
                continue
            try:
                value = normalise_refanged(obs_type, entry)[1]
            except InvalidObservable:
                continue
            self.add_key(_key(obs_type, value), list_id, suffix=False)
            added = True
        return added


def _domain(entry: str) -> str | None:
    try:
        return normalise_refanged(ObservableType.DOMAIN, entry.strip().lstrip("."))[1]
    except InvalidObservable:
        return None


def _segments(ranges: list[tuple[int, int, int]], intern: _Interner) -> tuple[list[int], list[int]]:
    """Cut overlapping (start, end, list) ranges into disjoint segments: (starts, label sets).

    A segment runs from its start to the next start; label set 0 (no list) fills the gaps.
    """
    events: dict[int, list[tuple[int, int]]] = {}
    for start, end, list_id in ranges:
        events.setdefault(start, []).append((list_id, 1))
        events.setdefault(end + 1, []).append((list_id, -1))
    active: dict[int, int] = {}
    starts: list[int] = []
    labels: list[int] = []
    for point in sorted(events):
        for list_id, delta in events[point]:
            count = active.get(list_id, 0) + delta
            if count:
                active[list_id] = count
            else:
                active.pop(list_id, None)
        label = intern.add(active)
        if labels and labels[-1] == label:
            continue  # same lists as the segment before: one segment
        starts.append(point)
        labels.append(label)
    return starts, labels


@functools.cache
def _bits(mask: int) -> tuple[int, ...]:
    return tuple(index for index in range(mask.bit_length()) if mask >> index & 1)


class _Interner:
    """Label sets (sorted tuples of list ids) by number; 0 is the empty set."""

    def __init__(self) -> None:
        self.sets: list[tuple[int, ...]] = [()]
        self.index: dict[tuple[int, ...], int] = {(): 0}

    def add(self, ids: Iterable[int]) -> int:
        key = tuple(sorted(ids))
        found = self.index.get(key)
        if found is None:
            found = len(self.sets)
            self.sets.append(key)
            self.index[key] = found
        return found


def _array_bytes(typecode: str, values: Iterable[int]) -> bytes:
    data = array.array(typecode, values)
    if sys.byteorder != "little":
        data.byteswap()
    return data.tobytes()


def compile_lists(lists_dir: Path | None = None) -> bytes:
    """Compile the shipped lists (or those under `lists_dir`) into the binary format."""
    builder = _Builder()
    source = lists_dir if lists_dir is not None else shipped_lists_dir()
    for slug, raw in _read_lists(source):
        list_id = len(builder.lists)
        applies = _applies_to(raw)
        list_type = str(raw["type"])
        compiled = skipped = 0
        for entry in raw.get("list") or ():
            if not isinstance(entry, str):
                skipped += 1
                continue
            if list_type == "regex":
                parsed = _parse_regex(entry)
                if parsed is None or not applies:
                    skipped += 1
                    continue
                builder.regexes.append((list_id, parsed[0], parsed[1]))
                compiled += 1
            elif list_type == "cidr":
                network = _network(entry)
                if network is None or not applies & set(_IPS):
                    skipped += 1
                    continue
                builder.add_network(network, list_id)
                compiled += 1
            elif builder.add_entry(
                entry, list_id=list_id, list_type=list_type, slug=slug, applies=applies
            ):
                compiled += 1
            else:
                skipped += 1
        builder.lists.append(
            ListInfo(
                slug=slug,
                name=str(raw["name"]),
                version=str(raw["version"]),
                list_type=list_type,
                description=str(raw.get("description", "")),
                applies_to=applies,
                compiled=compiled,
                skipped=skipped,
            )
        )

    intern = _Interner()
    ordered = sorted(builder.exact)
    exact_labels = [intern.add(_bits(builder.exact[digest])) for digest in ordered]
    below_labels = [intern.add(_bits(builder.below.get(digest, 0))) for digest in ordered]
    buckets = [0] * ((1 << _BUCKET_BITS) + 1)
    for digest in ordered:
        buckets[(digest >> _SHIFT) + 1] += 1
    for index in range(1, len(buckets)):
        buckets[index] += buckets[index - 1]
    starts4, labels4 = _segments(builder.ranges4, intern)
    starts6, labels6 = _segments(builder.ranges6, intern)

    meta = {
        "format": FORMAT_VERSION,
        "package_version": package_version(),
        "lists": [
            {
                "slug": info.slug,
                "name": info.name,
                "version": info.version,
                "type": info.list_type,
                "description": info.description,
                "applies_to": sorted(t.value for t in info.applies_to),
                "compiled": info.compiled,
                "skipped": info.skipped,
            }
            for info in builder.lists
        ],
        "label_sets": [list(ids) for ids in intern.sets],
        "regexes": builder.regexes,
        "service_suffixes": _service_suffix_rules(builder.services),
    }
    sections = [
        _array_bytes("Q", ordered),
        _array_bytes("I", exact_labels),
        _array_bytes("I", below_labels),
        _array_bytes("I", buckets),
        _array_bytes("Q", starts4),
        _array_bytes("I", labels4),
        b"".join(start.to_bytes(17, "big") for start in starts6),  # up to 2**128: 17 bytes
        _array_bytes("I", labels6),
        bytes(builder.bloom),
        bytes(builder.bloom_below),
    ]
    meta_bytes = json.dumps(meta, separators=(",", ":")).encode()
    parts = [_MAGIC, struct.pack("<II", FORMAT_VERSION, len(meta_bytes)), meta_bytes]
    for section in sections:
        parts.append(struct.pack("<Q", len(section)))
        parts.append(section)
    return b"".join(parts)


# --------------------------------------------------------------------------- loading


def _array_from(typecode: str, data: memoryview) -> array.array[int]:
    values = array.array(typecode)
    values.frombytes(data)
    if sys.byteorder != "little":
        values.byteswap()
    return values


class Warninglists:
    """The compiled lists: `match(obs_type, value)` gives the names of the lists it is on."""

    def __init__(self, data: bytes, *, path: Path) -> None:
        if data[:4] != _MAGIC or len(data) < 12:
            raise WarninglistFormatError(path=path, reason="not a compiled warninglist file")
        version, meta_size = struct.unpack_from("<II", data, 4)
        if version != FORMAT_VERSION:
            raise WarninglistFormatError(
                path=path, reason=f"format version {version}, expected {FORMAT_VERSION}"
            )
        view = memoryview(data)
        offset = 12 + meta_size
        meta = json.loads(bytes(view[12:offset]))
        sections: list[memoryview] = []
        for _ in range(10):
            (size,) = struct.unpack_from("<Q", data, offset)
            offset += 8
            sections.append(view[offset : offset + size])
            offset += size
        self.path = path
        self.package_version: str = meta["package_version"]
        self.lists: tuple[ListInfo, ...] = tuple(
            ListInfo(
                slug=item["slug"],
                name=item["name"],
                version=item["version"],
                list_type=item["type"],
                description=item["description"],
                applies_to=frozenset(ObservableType(t) for t in item["applies_to"]),
                compiled=item["compiled"],
                skipped=item["skipped"],
            )
            for item in meta["lists"]
        )
        self._by_name = {info.name: info for info in self.lists}
        self._label_sets: list[tuple[int, ...]] = [tuple(ids) for ids in meta["label_sets"]]
        self._keys = _array_from("Q", sections[0])
        self._exact = _array_from("I", sections[1])
        self._below = _array_from("I", sections[2])
        self._buckets = _array_from("I", sections[3])
        self._starts4 = _array_from("Q", sections[4])
        self._labels4 = _array_from("I", sections[5])
        raw6 = bytes(sections[6])
        self._starts6 = [int.from_bytes(raw6[i : i + 17], "big") for i in range(0, len(raw6), 17)]
        self._labels6 = _array_from("I", sections[7])
        self._bloom = bytes(sections[8])
        self._bloom_below = bytes(sections[9])
        regexes: dict[int, list[tuple[str, int]]] = {}
        for list_id, pattern, flags in meta["regexes"]:
            regexes.setdefault(list_id, []).append((pattern, flags))
        # One compiled pattern per entry: flags differ between entries, and each is a whole
        # value test, so alternation would gain little on lists this short.
        self._regexes: dict[ObservableType, list[tuple[int, list[re.Pattern[str]]]]] = {}
        for list_id, entries in regexes.items():
            compiled = [re.compile(pattern, flags) for pattern, flags in entries]
            for obs_type in self.lists[list_id].applies_to:
                self._regexes.setdefault(obs_type, []).append((list_id, compiled))
        # (label sets, type) -> names
        self._names: dict[tuple[tuple[int, ...], ObservableType], list[str]] = {}
        plain, wildcards, exceptions = meta["service_suffixes"]
        self._service_suffixes = frozenset(name.encode() for name in plain)
        self._service_wildcards = frozenset(name.encode() for name in wildcards)
        self._service_exceptions = frozenset(name.encode() for name in exceptions)

    # ------------------------------------------------------------------ lookups

    def info(self, name: str) -> ListInfo:
        """The list of that name; KeyError if no compiled list has it."""
        return self._by_name[name]

    def _find(self, key: bytes) -> int:
        bit = zlib.crc32(key) & (_BLOOM_BITS - 1)
        if not self._bloom[bit >> 3] >> (bit & 7) & 1:
            return -1
        digest = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
        bucket = digest >> _SHIFT
        high = self._buckets[bucket + 1]
        index = bisect.bisect_left(self._keys, digest, self._buckets[bucket], high)
        if index < high and self._keys[index] == digest:
            return index
        return -1

    def _names_of(self, ids: Iterable[int], obs_type: ObservableType) -> list[str]:
        """Names of the lists `ids` that apply to `obs_type`, sorted."""
        return sorted({self.lists[i].name for i in ids if obs_type in self.lists[i].applies_to})

    def _names_for(self, labels: tuple[int, ...], obs_type: ObservableType) -> list[str]:
        """`_names_of` the union of some label sets, cached: few combinations occur."""
        cache_key = (labels, obs_type)
        names = self._names.get(cache_key)
        if names is None:
            names = self._names_of(
                (i for label in labels for i in self._label_sets[label]), obs_type
            )
            if len(self._names) < _NAMES_CACHE:
                self._names[cache_key] = names
        return names

    def _ip_names(self, value: str, obs_type: ObservableType) -> list[str]:
        address, slash, prefix = value.partition("/")
        if ":" in address:
            number = int.from_bytes(socket.inet_pton(socket.AF_INET6, address), "big")
            bits = 128
            if _V6_MAPPED_LOW <= number <= _V6_MAPPED_HIGH:
                number -= _MAPPED_V4
                bits = 32
                if slash:
                    prefix = str(max(int(prefix) - 96, 0))
        else:
            number = int.from_bytes(socket.inet_aton(address), "big")
            bits = 32
        starts, labels = (
            (self._starts4, self._labels4) if bits == 32 else (self._starts6, self._labels6)
        )
        index = bisect.bisect_right(starts, number) - 1
        if index < 0 or not labels[index]:
            return []
        if slash:
            last = number | ((1 << (bits - int(prefix))) - 1)
            if index + 1 < len(starts) and starts[index + 1] <= last:
                # A block is on a list only if every address of it is: intersect the segments
                # it spans.
                common = set(self._label_sets[labels[index]])
                index += 1
                while common and index < len(starts) and starts[index] <= last:
                    common.intersection_update(self._label_sets[labels[index]])
                    index += 1
                return self._names_of(common, obs_type)
        return self._names_for((labels[index],), obs_type)

    def _domain_labels(self, value: str) -> tuple[int, ...]:
        """The label sets that speak for a name: its own entry, and the hostname entries above
        it up to where another owner begins."""
        data = value.encode("utf-8")
        found: list[int] = []
        index = self._find(_DOMAIN_PREFIX + data)
        if index >= 0:
            found.append(self._exact[index])
        dot = data.find(b".")
        while dot >= 0:
            rest = data[dot + 1 :]
            next_dot = rest.find(b".")
            if next_dot < 0:
                break  # a bare TLD is never an entry
            if self._is_service_suffix(rest):
                # 'x.github.io' is not github.io's: nothing above this point speaks for it.
                break
            key = _DOMAIN_PREFIX + rest
            bit = zlib.crc32(key) & (_BELOW_BLOOM_BITS - 1)
            if self._bloom_below[bit >> 3] >> (bit & 7) & 1:
                index = self._find(key)
                if index >= 0 and self._below[index]:
                    found.append(self._below[index])
            dot = dot + 1 + next_dot
        return tuple(found)

    def _is_service_suffix(self, name: bytes) -> bool:
        """Whether `name` is a suffix of the private section of the public suffix list, below
        which each name has its own owner (github.io, duckdns.org, *.compute.amazonaws.com)."""
        if name in self._service_suffixes:
            return True
        parent = name.partition(b".")[2]
        return parent in self._service_wildcards and name not in self._service_exceptions

    def _regex_ids(self, obs_type: ObservableType, value: str) -> list[int]:
        candidates = [value]
        if obs_type is ObservableType.PHONE:
            candidates.extend(_national_forms(value))
        return [
            list_id
            for list_id, patterns in self._regexes.get(obs_type, ())
            if any(p.fullmatch(text) for p in patterns for text in candidates)
        ]

    def match(self, obs_type: str | ObservableType, value: str) -> list[str]:
        """Names of the lists that `value` (normalised, as `observable.normalize` gives it) is
        on, sorted. IPv4-mapped IPv6 addresses are looked up as the IPv4 address they carry."""
        kind = _TYPES.get(obs_type) or ObservableType(obs_type)
        if kind is ObservableType.DOMAIN:
            labels = self._domain_labels(value)
        elif kind is ObservableType.IPV4 or kind is ObservableType.IPV6:
            try:
                return list(self._ip_names(value, kind))
            except (OSError, ValueError):
                return []
        elif kind is ObservableType.URL:
            host = _root_url_host(value)
            if host is None:
                return []
            labels = self._domain_labels(host)
        elif kind in _EXACT_TYPES:
            index = self._find(_key(kind, value))
            labels = (self._exact[index],) if index >= 0 else ()
            if kind in self._regexes:
                regex_ids = self._regex_ids(kind, value)
                if regex_ids:
                    listed = [i for label in labels for i in self._label_sets[label]]
                    return self._names_of([*listed, *regex_ids], kind)
        else:
            return []
        if not labels:
            return []
        return list(self._names_for(labels, kind))

    def match_many(self, pairs: Iterable[tuple[str, str]]) -> list[list[str]]:
        """`match` for each (type, value) pair, in order."""
        return [self.match(obs_type, value) for obs_type, value in pairs]


def _root_url_host(url: str) -> str | None:
    """The host of a normalised URL that is a site's root ('https://host[:port]/'), if a name."""
    _, sep, rest = url.partition("://")
    if not sep or rest.find("/") != len(rest) - 1 or "@" in rest or rest.startswith("["):
        return None
    host = rest[:-1].partition(":")[0]
    if host.replace(".", "").isdigit():
        return None  # an IP host: the CIDR lists declare no URL attribute
    return host


def _service_suffix_rules(services: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
    """Where ownership changes: the service names of the service lists and the private section
    of the bundled public suffix list, as plain suffixes, parents of wildcard rules
    ('*.compute.amazonaws.com' -> 'compute.amazonaws.com'), and exceptions."""
    plain: list[str] = sorted(services)
    wildcards: list[str] = []
    exceptions: list[str] = []
    inside = False
    with open(publicsuffixlist.PSLFILE, encoding="utf-8") as handle:
        for line in handle:
            rule = line.strip()
            if rule == "// ===BEGIN PRIVATE DOMAINS===":
                inside = True
            elif rule == "// ===END PRIVATE DOMAINS===":
                break
            elif inside and rule and not rule.startswith("//"):
                text = rule.split()[0].lower()
                if not text.isascii():
                    text = ".".join(
                        label if label.isascii() else label.encode("idna").decode("ascii")
                        for label in text.split(".")
                    )
                if text.startswith("*."):
                    wildcards.append(text[2:])
                elif text.startswith("!"):
                    exceptions.append(text[1:])
                else:
                    plain.append(text)
    return plain, wildcards, exceptions


def _national_forms(e164: str) -> list[str]:
    """The number as written at home, digits only ('+442079460958' -> '02079460958')."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return []
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    digits = "".join(char for char in national if char.isdigit())
    significant = phonenumbers.national_significant_number(number)
    return [form for form in dict.fromkeys((digits, significant)) if form]


# --------------------------------------------------------------------------- the cached file


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # Two processes compiling at once both write whole files; the last rename wins.
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(path: Path | None = None, *, lists_dir: Path | None = None) -> Warninglists:
    """The compiled lists from `path` (default: `compiled_path()`), compiling them first (from
    `lists_dir`, default the shipped lists) when the file is missing or of another format."""
    target = path if path is not None else compiled_path()
    if target.exists():
        try:
            return Warninglists(target.read_bytes(), path=target)
        except WarninglistFormatError:
            pass  # an older format under the same name: compile again
    data = compile_lists(lists_dir)
    _write_atomically(target, data)
    return Warninglists(data, path=target)


@functools.cache
def _cached(path: Path) -> Warninglists:
    return load(path)


def get() -> Warninglists:
    """The process's compiled lists, loaded once (compiled once per list package version)."""
    return _cached(compiled_path())
