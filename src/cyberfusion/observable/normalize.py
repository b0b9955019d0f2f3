"""Normalise observables to one canonical string per type, guess types, and refang text."""

from __future__ import annotations

import bisect
import functools
import hashlib
import ipaddress
import re
import string
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import idna
import phonenumbers
import publicsuffixlist
from Crypto.Hash import keccak
from publicsuffixlist import PublicSuffixList

from cyberfusion.observable.types import ObservableType

__all__ = [
    "InvalidObservable",
    "RefangEdit",
    "detect",
    "is_known_tld",
    "known_tlds",
    "map_offset",
    "normalise",
    "normalise_refanged",
    "normalise_typed",
    "refang",
    "refang_spans",
]


class InvalidObservable(ValueError):
    """A value that is not a valid observable of the given type; `reason` says why."""

    def __init__(self, *, obs_type: ObservableType, raw: str, reason: str) -> None:
        super().__init__(reason)
        self.obs_type = obs_type
        self.raw = raw
        self.reason = reason


def _fail(obs_type: ObservableType, raw: str, reason: str) -> InvalidObservable:
    return InvalidObservable(obs_type=obs_type, raw=raw, reason=reason)


# --------------------------------------------------------------------------- refang


class RefangEdit(NamedTuple):
    """One replacement made by refanging: text[orig_start:orig_end] became refanged[start:end].

    A named tuple rather than a dataclass: long defanged reports produce tens of thousands.
    """

    start: int
    end: int
    orig_start: int
    orig_end: int


# Each alternative is one defanging convention seen in CERT reports and phishing write-ups. Every
# match starts with one character of the leading class, so the regex engine jumps straight to the
# few places that can start a defang (a bare lookahead or lookbehind in front would make it try
# every position). Schemes are found at their "x" ("hxxp", "hxtp", "htxp", "fxp"); the letters
# before it are checked by lookbehind and added back to the span in refang_spans. One space or tab
# on each side of a bracketed dot or at-sign ("evil [.] com") is part of the defang.
_ZERO_WIDTH = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_REFANG_RE = re.compile(
    rf"""
    [xX\[({{\\{_ZERO_WIDTH}]
    (?:
      (?<=[hH][xX])(?<!\w[hH][xX])(?P<hx>[xX][pP]|[tT][pP])(?P<hx_s>[sS]?)(?=[\[({{]?:)
    | (?<=[hH][tT][xX])(?<!\w[hH][tT][xX])[pP](?P<htx_s>[sS]?)(?=[\[({{]?:)
    | (?<=[fF][xX])(?<!\w[fF][xX])[pP](?P<fx_s>[sS]?)(?=[\[({{]?:)
    | (?<=[\[({{])
      (?:
        (?P<sep>://[\])}}]|:[\])}}]//|:[\])}}])
      | [ \t]?(?:(?P<dot>\.|dot|DOT|Dot)|(?P<at>@|at|AT|At))[ \t]?[\])}}]
      | (?P<slash>/[\])}}])
      )
    | (?<=\\)(?P<backslash>\.)
    | (?<=[{_ZERO_WIDTH}])(?P<zero_width>[{_ZERO_WIDTH}]*+)
    )
    """,
    re.VERBOSE,
)
# "evil dot com": a bare word needs more care than a bracketed one ("the dot com bubble"), see
# _bare_dot_ok. Each regex starts with its literal, which the engine finds fast.
_BARE_DOT_RES = (
    re.compile(r" dot (?<=[A-Za-z0-9] dot )(?=[A-Za-z0-9])"),
    re.compile(r" DOT (?<=[A-Za-z0-9] DOT )(?=[A-Za-z0-9])"),
)
_WORD_BEFORE_RE = re.compile(r"[A-Za-z0-9\-]*$")
_WORD_AFTER_RE = re.compile(r"[A-Za-z0-9\-]*")
# Words before a bare "dot" that make it English, not a defang ("the dot com era").
_BARE_DOT_STOPWORDS = frozenset({
    "a", "an", "and", "at", "by", "each", "every", "for", "from", "her", "his", "in", "its", "my",
    "new", "no", "of", "old", "on", "one", "or", "our", "polka", "same", "that", "the", "their",
    "these", "this", "those", "to", "with", "your",
})  # fmt: skip
# Full-width forms (U+FF01-FF5E) of ASCII, as in a domain or an e-mail address typed with a
# Chinese or Japanese input method: the same characters, so they are mapped one to one (offsets
# do not move). The full stop (U+FF0E) is left to _WIDE_DOT_RE: in Chinese and Japanese text
# it also ends sentences.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F) if code != 0xFF0E}
_FULL_WIDTH_RE = re.compile("[\uff01-\uff0d\uff0f-\uff5e]")
# Ideographic and full-width full stops between ASCII letters or digits ("evil。com") are dots.
_WIDE_DOT_RE = re.compile(r"(?<=[A-Za-z0-9\-])[\u3002\uff0e\uff61](?=[A-Za-z0-9])")


# What replaces each kind of match (named by its last group), and for schemes how many letters
# before the match belong to it.
_REPLACEMENTS = {"dot": ".", "backslash": ".", "at": "@", "slash": "/", "zero_width": ""}
_SCHEMES = {"hx_s": (1, "http"), "htx_s": (2, "http"), "fx_s": (1, "ftp")}


def _bare_dot_ok(text: str, start: int, end: int) -> bool:
    """Whether " dot " at text[start:end] joins two labels of a host name."""
    before = _WORD_BEFORE_RE.search(text, max(0, start - 64), start)
    if before is None or before.group().lower() in _BARE_DOT_STOPWORDS:
        return False
    after = _WORD_AFTER_RE.match(text, end)
    if after is None:
        return False
    word_end = after.end()
    if is_known_tld(after.group().lower()):
        return True
    # "mail dot evil-domain dot ru": a label that is not a TLD must be followed by another dot.
    follows = text[word_end : word_end + 5]
    return follows in (" dot ", " DOT ")


def refang_spans(text: str) -> tuple[str, tuple[RefangEdit, ...]]:
    """Refang `text` and return the edits, so offsets can be mapped back to the original.

    Besides the defangs listed in `refang`, full-width ASCII becomes ASCII, an ideographic or
    full-width full stop between ASCII letters becomes ".", and zero-width characters (soft
    hyphen, zero-width space and joiners, word joiner, BOM) are removed. The one-to-one
    replacements leave offsets unchanged and are not listed as edits.
    """
    if not text.isascii():
        # str.translate looks up every character: only pay for it when there is something to do.
        if _FULL_WIDTH_RE.search(text) is not None:
            text = text.translate(_FULL_WIDTH)
        if "\u3002" in text or "\uff0e" in text or "\uff61" in text:
            text = _WIDE_DOT_RE.sub(".", text)
    spans: Iterable[tuple[int, int, str]] = _defang_spans(text)
    bare = [
        (match.start(), match.end(), ".")
        for bare_re in _BARE_DOT_RES
        if bare_re.pattern[:5] in text
        for match in bare_re.finditer(text)
        if _bare_dot_ok(text, match.start(), match.end())
    ]
    if bare:
        spans = sorted([*spans, *bare])
    pieces: list[str] = []
    edits: list[RefangEdit] = []
    last = 0
    shift = 0  # refanged offset minus original offset, up to `last`
    for orig_start, orig_end, replacement in spans:
        if orig_start < last:
            continue  # overlaps the previous defang
        pieces.append(text[last:orig_start])
        pieces.append(replacement)
        start = orig_start + shift
        edits.append(RefangEdit(start, start + len(replacement), orig_start, orig_end))
        shift += len(replacement) - (orig_end - orig_start)
        last = orig_end
    if not edits:
        return text, ()
    pieces.append(text[last:])
    return "".join(pieces), tuple(edits)


def _defang_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, replacement) of each bracket, scheme, backslash or zero-width defang."""
    last = 0
    size = len(text)
    for match in _REFANG_RE.finditer(text):
        kind = match.lastgroup or ""
        orig_start, orig_end = match.span()
        if kind in _REPLACEMENTS:
            replacement = _REPLACEMENTS[kind]
            if kind in ("dot", "at"):
                if orig_start > last and text[orig_start - 1] in " \t":
                    orig_start -= 1
                if orig_end < size and text[orig_end] in " \t":
                    orig_end += 1
        elif kind == "sep":
            replacement = "://" if "//" in match.group("sep") else ":"
        else:
            back, word = _SCHEMES[kind]
            orig_start -= back
            replacement = word + match.group(kind).lower()
        yield orig_start, orig_end, replacement
        last = orig_end


def refang(text: str) -> str:
    """Undo defanging: hxxp(s)/hxtp/htxp/fxp schemes in any case, [.] (.) {.} [dot] (dot) {dot}
    and a bare " dot " between host labels, [:] [://], [@] (@) [at] (at) {at}, [/], \\.,
    full-width characters and zero-width characters."""
    return refang_spans(text)[0]


def map_offset(edits: tuple[RefangEdit, ...], starts: list[int], pos: int, *, is_end: bool) -> int:
    """Map an offset in refanged text to the original text (`starts` = [e.start for e in edits])."""
    if not edits:
        return pos
    if is_end:
        idx = bisect.bisect_left(starts, pos) - 1
        if idx < 0:
            return pos
        edit = edits[idx]
        if pos <= edit.end:
            return edit.orig_end
        return pos - edit.end + edit.orig_end
    idx = bisect.bisect_right(starts, pos) - 1
    if idx < 0:
        return pos
    edit = edits[idx]
    if pos < edit.end:
        return edit.orig_start
    return pos - edit.end + edit.orig_end


# --------------------------------------------------------------------------- domains


@functools.cache
def _psl() -> PublicSuffixList:
    # ICANN section only: private-section suffixes (github.io, blogspot.com, duckdns.org) are
    # real registered domains that analysts report on their own.
    return PublicSuffixList(only_icann=True, accept_unknown=False)


@functools.cache
def _icann_rules() -> tuple[frozenset[str], frozenset[str]]:
    """TLDs of the ICANN section of the bundled public suffix list (ASCII or punycode), and those
    of them whose only rule is the TLD itself (".com"), for which the suffix needs no lookup."""
    tlds: set[str] = set()
    deeper: set[str] = set()
    in_icann = False
    with open(publicsuffixlist.PSLFILE, encoding="utf-8") as handle:
        for line in handle:
            rule = line.strip()
            if rule == "// ===BEGIN ICANN DOMAINS===":
                in_icann = True
            elif rule == "// ===END ICANN DOMAINS===":
                break
            elif in_icann and rule and not rule.startswith("//"):
                # Rules such as "co.za" list a TLD ("za") that is not a suffix on its own.
                text = rule.split()[0]
                tld = text.lstrip("!").rsplit(".", 1)[-1].lower()
                tld = tld if tld.isascii() else tld.encode("idna").decode("ascii")
                tlds.add(tld)
                if "." in text or text.startswith(("!", "*")):
                    deeper.add(tld)
    return frozenset(tlds), frozenset(tlds - deeper)


def is_known_tld(tld: str) -> bool:
    """Whether `tld` (lower-case ASCII or punycode) is a TLD in the public suffix list."""
    return tld in _icann_rules()[0]


def known_tlds() -> frozenset[str]:
    """All TLDs of the public suffix list (lower-case ASCII or punycode), for bulk checks."""
    return _icann_rules()[0]


_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_IDEOGRAPHIC_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def _encode_label(label: str, raw: str) -> str:
    if label.isascii():
        return label.lower()
    try:
        return idna.encode(label, uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError as idna2008_error:
        # IDNA 2008 forbids symbols (emoji domains such as i❤.ws); registries and browsers still
        # resolve them through IDNA 2003, and they are popular in phishing, so fall back to it.
        try:
            return label.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise _fail(
                ObservableType.DOMAIN,
                raw,
                f"{raw!r} is not a domain name: label {label!r} cannot be encoded as IDNA "
                f"({idna2008_error})",
            ) from None


# A name whose labels are all valid, checked in one step; the label-by-label loop in _domain only
# runs to say which label is wrong (or to check punycode).
_VALID_NAME_RE = re.compile(
    r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
)


def _check_labels(raw: str, labels: list[str]) -> None:
    obs_type = ObservableType.DOMAIN
    for label in labels:
        if not label:
            raise _fail(obs_type, raw, f"{raw!r} is not a domain name: it has an empty label")
        if len(label) > 63:
            raise _fail(
                obs_type,
                raw,
                f"{raw!r} is not a domain name: label {label[:20]!r}... has {len(label)} "
                "characters > 63",
            )
        if _LABEL_RE.fullmatch(label) is None:
            raise _fail(
                obs_type,
                raw,
                f"{raw!r} is not a domain name: label {label!r} may contain only letters, "
                "digits, hyphens and underscores, and may not start or end with a hyphen",
            )
        if label.startswith("xn--"):
            try:
                label[4:].encode("ascii").decode("punycode")
            except UnicodeError:
                raise _fail(
                    obs_type,
                    raw,
                    f"{raw!r} is not a domain name: label {label!r} is not valid punycode",
                ) from None


def _domain(raw: str) -> str:
    obs_type = ObservableType.DOMAIN
    text = raw.strip()
    if not text.isascii():
        text = text.translate(_IDEOGRAPHIC_DOTS)
    if text.endswith("."):
        text = text[:-1]
    if not text:
        raise _fail(obs_type, raw, f"{raw!r} is not a domain name: it is empty")
    if text.isascii():
        name = text.lower()
        labels = name.split(".")
    else:
        labels = [_encode_label(label, raw) for label in text.split(".")]
        name = ".".join(labels)
    if len(name) > 253:
        raise _fail(obs_type, raw, f"{raw!r} is not a domain name: {len(name)} characters > 253")
    if len(labels) < 2:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a domain name: a single label has no registrable domain",
        )
    if _VALID_NAME_RE.fullmatch(name) is None or "xn--" in name:
        _check_labels(raw, labels)
    tld = labels[-1]
    known, simple = _icann_rules()
    if tld not in known:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a domain name: unknown top-level domain '.{tld}'",
        )
    if tld in simple:
        suffix_size = 1  # "com" has no deeper rules: no need to ask the public suffix list
    else:
        suffix = _psl().publicsuffix(name, accept_unknown=False)
        if suffix is None:
            raise _fail(
                obs_type,
                raw,
                f"{raw!r} is not a registrable domain name: names under '.{tld}' are registered "
                f"only below the suffixes that the public suffix list gives for '.{tld}'",
            )
        if suffix == name:
            raise _fail(
                obs_type,
                raw,
                f"{raw!r} is a public suffix (like 'co.uk'), not a registrable domain name",
            )
        suffix_size = suffix.count(".") + 1
    if "_" in name:
        registrable = labels[-(suffix_size + 1) :]
        if any("_" in label for label in registrable):
            # Underscores occur in service labels (_dmarc.example.com), never in registered
            # names.
            raise _fail(
                obs_type,
                raw,
                f"{raw!r} is not a domain name: an underscore in the registered name "
                f"{'.'.join(registrable)!r} is not allowed",
            )
    return name


# --------------------------------------------------------------------------- IP addresses


def _ipv4_address(raw: str, text: str) -> str:
    obs_type = ObservableType.IPV4
    octets = text.split(".")
    if len(octets) != 4:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not an IPv4 address: expected 4 dot-separated octets, found {len(octets)}",
        )
    for octet in octets:
        if not (octet.isascii() and octet.isdigit()):
            raise _fail(
                obs_type,
                raw,
                f"{raw!r} is not an IPv4 address: octet {octet!r} is not a decimal number",
            )
        if len(octet) > 1 and octet[0] == "0":
            raise _fail(
                obs_type,
                raw,
                f"{raw!r} is not an IPv4 address: octet {octet!r} has a leading zero "
                "(ambiguous: octal or decimal)",
            )
        if int(octet) > 255:
            raise _fail(obs_type, raw, f"{raw!r} is not an IPv4 address: octet {octet} > 255")
    return text


def _prefix_length(obs_type: ObservableType, raw: str, prefix: str, maximum: int) -> int:
    if not (prefix.isascii() and prefix.isdigit()) or len(prefix) > 3:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a CIDR block: prefix length {prefix!r} is not a number",
        )
    length = int(prefix)
    if length > maximum:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a CIDR block: prefix length /{length} > {maximum}",
        )
    return length


def _ipv4(raw: str) -> str:
    text = raw.strip()
    address, slash, prefix = text.partition("/")
    address = _ipv4_address(raw, address)
    if not slash:
        return address
    length = _prefix_length(ObservableType.IPV4, raw, prefix, 32)
    if length == 32:
        return address
    # Host bits set ("203.0.113.7/24") are a common way to write the block; keep the block.
    return str(ipaddress.IPv4Network(f"{address}/{length}", strict=False))


def _ipv6(raw: str) -> tuple[ObservableType, str]:
    obs_type = ObservableType.IPV6
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    address, slash, prefix = text.partition("/")
    if ":" not in address and address.count(".") == 3:
        # A dotted quad where IPv6 was expected is the IPv4 address itself (as mapped ones are).
        return ObservableType.IPV4, _ipv4(text)
    if "%" in address:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a global IPv6 address: the zone index "
            f"{address[address.index('%') :]!r} only has meaning on one host",
        )
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError as error:
        raise _fail(obs_type, raw, f"{raw!r} is not an IPv6 address: {error}") from None
    length = _prefix_length(obs_type, raw, prefix, 128) if slash else 128
    mapped = ip.ipv4_mapped
    if mapped is not None and length >= 96:
        if length == 128:
            return ObservableType.IPV4, str(mapped)
        network4 = ipaddress.IPv4Network(f"{mapped}/{length - 96}", strict=False)
        return ObservableType.IPV4, str(network4)
    if length == 128:
        return obs_type, ip.compressed
    return obs_type, ipaddress.IPv6Network(f"{ip}/{length}", strict=False).compressed


# --------------------------------------------------------------------------- URLs

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_BARE_HOST_RE = re.compile(r"[^/:?#\s]+(?::\d*)?(?:[/?#]|$)")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443, "ldap": 389}
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_SUB_DELIMS = "!$&'()*+,;="
_PATH_SAFE = frozenset(_UNRESERVED | set(_SUB_DELIMS + ":@/%"))
_QUERY_SAFE = frozenset(_PATH_SAFE | {"?"})
_USERINFO_SAFE = frozenset(_UNRESERVED | set(_SUB_DELIMS + ":%"))
_HEX = frozenset("0123456789abcdefABCDEF")


def _normalise_percent(part: str, safe: frozenset[str]) -> str:
    """Decode escaped unreserved characters, upper-case other escapes, escape disallowed ones."""
    if "%" not in part and all(char in safe for char in part):
        return part
    out: list[str] = []
    i = 0
    size = len(part)
    while i < size:
        char = part[i]
        if char == "%":
            if i + 2 < size and part[i + 1] in _HEX and part[i + 2] in _HEX:
                decoded = chr(int(part[i + 1 : i + 3], 16))
                out.append(decoded if decoded in _UNRESERVED else "%" + part[i + 1 : i + 3].upper())
                i += 3
                continue
            out.append("%25")
        elif char in safe:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
        i += 1
    return "".join(out)


def _url_host(raw: str, host: str) -> str:
    obs_type = ObservableType.URL
    if not host:
        raise _fail(obs_type, raw, f"{raw!r} is not a URL: it has no host")
    if host.startswith("["):
        if not host.endswith("]"):
            raise _fail(obs_type, raw, f"{raw!r} is not a URL: unclosed '[' in the host")
        try:
            host_type, value = _ipv6(host[1:-1])
        except InvalidObservable as error:
            raise _fail(obs_type, raw, f"{raw!r} has an invalid host: {error.reason}") from None
        return value if host_type is ObservableType.IPV4 else f"[{value}]"
    if "%" in host:
        host = unquote(host)
    try:
        if host.replace(".", "").isdigit():
            return _ipv4_address(host, host)
        return _domain(host)
    except InvalidObservable as error:
        raise _fail(obs_type, raw, f"{raw!r} has an invalid host: {error.reason}") from None


def _url(raw: str) -> str:
    obs_type = ObservableType.URL
    text = raw.strip()
    scheme_match = _SCHEME_RE.match(text)
    if scheme_match is None or not text[scheme_match.end() :].startswith("://"):
        if _BARE_HOST_RE.match(text) is None:
            raise _fail(
                obs_type,
                raw,
                f"{raw!r} is not a URL: expected '<scheme>://<host>...' or a host followed "
                "by a path",
            )
        # Feeds often list "evil.com/gate.php"; http is what a victim's browser would assume.
        text = "http://" + text
    try:
        parts = urlsplit(text)
    except ValueError as error:
        raise _fail(obs_type, raw, f"{raw!r} is not a URL: {error}") from None
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):
        close = hostport.find("]")
        host, port_text = hostport[: close + 1], hostport[close + 1 :]
        if port_text and not port_text.startswith(":"):
            raise _fail(obs_type, raw, f"{raw!r} is not a URL: junk after the IPv6 host")
        port_text = port_text[1:]
    else:
        host, _, port_text = hostport.partition(":")
    host_value = _url_host(raw, host)
    port = ""
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
            raise _fail(
                obs_type,
                raw,
                f"{raw!r} is not a URL: port {port_text!r} is not a number from 0 to 65535",
            )
        if int(port_text) != _DEFAULT_PORTS.get(scheme):
            port = f":{int(port_text)}"
    prefix = _normalise_percent(userinfo, _USERINFO_SAFE) + "@" if at else ""
    path = _normalise_percent(parts.path, _PATH_SAFE) or "/"
    query = _normalise_percent(parts.query, _QUERY_SAFE)
    # Dot segments are kept on purpose: path-traversal URLs ("/cgi-bin/.%2e/.%2e/bin/sh") are
    # evidence, and resolving them would merge distinct exploit attempts.
    return f"{scheme}://{prefix}{host_value}{port}{path}" + (f"?{query}" if query else "")


# --------------------------------------------------------------------------- e-mail

_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")


def _email(raw: str) -> str:
    obs_type = ObservableType.EMAIL
    text = raw.strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    local, at, domain = text.rpartition("@")
    if not at:
        raise _fail(obs_type, raw, f"{raw!r} is not an e-mail address: it has no '@'")
    if not local:
        raise _fail(obs_type, raw, f"{raw!r} is not an e-mail address: the local part is empty")
    if len(local.encode("utf-8")) > 64:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not an e-mail address: the local part is longer than 64 octets",
        )
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not an e-mail address: the local part has a leading, trailing or "
            "doubled dot",
        )
    for char in local:
        if char != "." and char not in _ATEXT and char.isascii():
            raise _fail(
                obs_type,
                raw,
                f"{raw!r} is not an e-mail address: character {char!r} is not allowed in an "
                "unquoted local part",
            )
    if domain.startswith("["):
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not accepted: address literals ({domain}) are not used for real mail",
        )
    try:
        domain_value = _domain(domain)
    except InvalidObservable as error:
        raise _fail(obs_type, raw, f"{raw!r} has an invalid domain part: {error.reason}") from None
    return f"{local}@{domain_value}"


# --------------------------------------------------------------------------- hashes, CVE, ASN

_HASH_LENGTHS = {
    ObservableType.MD5: (32, "an MD5 hash"),
    ObservableType.SHA1: (40, "a SHA-1 hash"),
    ObservableType.SHA256: (64, "a SHA-256 hash"),
    ObservableType.SHA512: (128, "a SHA-512 hash"),
}
_NON_HEX_RE = re.compile(r"[^0-9a-fA-F]")


def _hash(obs_type: ObservableType, raw: str) -> str:
    length, name = _HASH_LENGTHS[obs_type]
    text = raw.strip()
    bad = _NON_HEX_RE.search(text)
    if bad is not None:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not {name}: character {bad.group()!r} at position {bad.start()} "
            "is not hexadecimal",
        )
    if len(text) != length:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not {name}: expected {length} hexadecimal characters, found {len(text)}",
        )
    return text.lower()


_CVE_RE = re.compile(r"CVE-(\d{4})-(\d+)", re.IGNORECASE)
_DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "_": "-"})


def _cve(raw: str) -> str:
    obs_type = ObservableType.CVE
    text = raw.strip().translate(_DASHES)
    match = _CVE_RE.fullmatch(text)
    if match is None:
        raise _fail(
            obs_type, raw, f"{raw!r} is not a CVE id: expected 'CVE-YYYY-NNNN' (4 or more digits)"
        )
    year, sequence = match.groups()
    if int(year) < 1999:
        raise _fail(
            obs_type, raw, f"{raw!r} is not a CVE id: year {year} is before CVE began (1999)"
        )
    if len(sequence) < 4:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a CVE id: the sequence number has {len(sequence)} digits, "
            "at least 4 are required",
        )
    if len(sequence) > 4 and sequence[0] == "0":
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a CVE id: a sequence number longer than 4 digits has no leading zero",
        )
    return f"CVE-{year}-{sequence}"


_ASN_RE = re.compile(r"(?:ASN?)?\s*(\d+)(?:\.(\d+))?", re.IGNORECASE)


def _asn(raw: str) -> str:
    obs_type = ObservableType.ASN
    match = _ASN_RE.fullmatch(raw.strip())
    if match is None:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not an autonomous system number: expected 'AS13335' or '13335'",
        )
    high, low = match.groups()
    if low is not None:
        # asdot notation (RFC 5396): "1.10" is 1 * 65536 + 10.
        if int(high) > 65535 or int(low) > 65535:
            raise _fail(
                obs_type,
                raw,
                f"{raw!r} is not an autonomous system number: asdot parts must be <= 65535",
            )
        number = int(high) * 65536 + int(low)
    else:
        number = int(high)
    if number == 0:
        raise _fail(
            obs_type, raw, f"{raw!r} is not usable: AS0 is reserved (RFC 7607) and never routed"
        )
    if number > 4294967295:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not an autonomous system number: {number} > 4294967295 (32 bits)",
        )
    return f"AS{number}"


# --------------------------------------------------------------------------- phone, IBAN

_PHONE_ERROR_PREFIX_RE = re.compile(r"^\(\d+\)\s*")


def _phone(raw: str) -> str:
    obs_type = ObservableType.PHONE
    text = raw.strip()
    if text[:4].lower() == "tel:":
        text = text[4:]
    if text.startswith("00"):
        text = "+" + text[2:]
    elif not text.startswith("+"):
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not accepted: phone numbers must be in international form, "
            "starting with '+' or '00'",
        )
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as error:
        detail = _PHONE_ERROR_PREFIX_RE.sub("", str(error))
        raise _fail(obs_type, raw, f"{raw!r} is not a phone number: {detail}") from None
    if not phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a valid phone number for country code +{number.country_code} "
            f"({region})",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# ISO 13616 registry: IBAN length per country (French and British territories use FR and GB).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
_IBAN_SHAPE_RE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+")
_WHITESPACE_RE = re.compile(r"\s+")


def iban_remainder(iban: str) -> int:
    """ISO 7064 mod 97-10 remainder of a compact upper-case IBAN (1 when the check digits fit)."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97


def _iban(raw: str) -> str:
    obs_type = ObservableType.IBAN
    text = _WHITESPACE_RE.sub("", raw).upper()
    if text.startswith("IBAN"):
        text = text[4:].lstrip(":")
    if _IBAN_SHAPE_RE.fullmatch(text) is None:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not an IBAN: expected a 2-letter country code, 2 check digits and "
            "letters or digits",
        )
    country = text[:2]
    expected = IBAN_LENGTHS.get(country)
    if expected is None:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not an IBAN: country {country!r} is not in the ISO 13616 IBAN registry",
        )
    if len(text) != expected:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not an IBAN: IBANs of {country} have {expected} characters, "
            f"found {len(text)}",
        )
    remainder = iban_remainder(text)
    if remainder != 1:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not an IBAN: check digits {text[2:4]} do not match "
            f"(mod-97 remainder is {remainder}, expected 1)",
        )
    return text


# --------------------------------------------------------------------------- crypto wallets

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(BASE58_ALPHABET)}
BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {char: index for index, char in enumerate(BECH32_CHARSET)}
BECH32_CONST = 1
BECH32M_CONST = 0x2BC830A3


def _first_non_base58(text: str) -> tuple[str, int] | None:
    """The first character that is not base58 and its position, or None."""
    for position, char in enumerate(text):
        if char not in _BASE58_INDEX:
            return char, position
    return None


def _base58_decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + _BASE58_INDEX[char]
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    leading = len(text) - len(text.lstrip("1"))
    return b"\x00" * leading + body


def bech32_polymod(values: list[int]) -> int:
    """BIP 173 checksum polynomial over GF(32)."""
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            if (top >> i) & 1:
                checksum ^= generator[i]
    return checksum


def bech32_hrp_expand(hrp: str) -> list[int]:
    """The human-readable part as it enters the checksum (BIP 173)."""
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def _convert_bits(data: list[int], from_bits: int, to_bits: int) -> list[int] | None:
    accumulator = 0
    bits = 0
    out: list[int] = []
    mask = (1 << to_bits) - 1
    for value in data:
        accumulator = (accumulator << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((accumulator >> bits) & mask)
    # Without padding: leftover bits must be fewer than from_bits and all zero (BIP 173).
    if bits >= from_bits or (accumulator << (to_bits - bits)) & mask:
        return None
    return out


def _btc_bech32(raw: str, text: str) -> str:
    obs_type = ObservableType.BTC
    if text != text.lower() and text != text.upper():
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a Bitcoin address: bech32 may not mix upper and lower case",
        )
    text = text.lower()
    if len(text) > 90:
        raise _fail(
            obs_type, raw, f"{raw!r} is not a Bitcoin address: bech32 is at most 90 characters"
        )
    hrp, _, data_part = text.rpartition("1")
    if hrp != "bc":
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a Bitcoin mainnet address: human-readable part {hrp!r} is not 'bc'",
        )
    for position, char in enumerate(data_part):
        if char not in _BECH32_INDEX:
            raise _fail(
                obs_type,
                raw,
                f"{raw!r} is not a Bitcoin address: character {char!r} at position "
                f"{position + len(hrp) + 1} is not in the bech32 alphabet",
            )
    data = [_BECH32_INDEX[char] for char in data_part]
    if len(data) < 7:
        raise _fail(obs_type, raw, f"{raw!r} is not a Bitcoin address: the data part is too short")
    constant = bech32_polymod(bech32_hrp_expand(hrp) + data)
    if constant not in (BECH32_CONST, BECH32M_CONST):
        raise _fail(obs_type, raw, f"{raw!r} is not a Bitcoin address: bech32 checksum mismatch")
    version = data[0]
    program = _convert_bits(data[1:-6], 5, 8)
    if version > 16 or program is None or not 2 <= len(program) <= 40:
        raise _fail(
            obs_type, raw, f"{raw!r} is not a Bitcoin address: invalid segwit witness program"
        )
    if version == 0 and len(program) not in (20, 32):
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a Bitcoin address: a version 0 witness program has 20 or 32 "
            f"bytes, found {len(program)}",
        )
    expected = BECH32_CONST if version == 0 else BECH32M_CONST
    if constant != expected:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a Bitcoin address: witness version {version} must use "
            f"{'bech32' if version == 0 else 'bech32m'} (BIP 350)",
        )
    return text


def _btc(raw: str) -> str:
    obs_type = ObservableType.BTC
    text = raw.strip()
    lowered = text.lower()
    if lowered.startswith("bc1"):
        return _btc_bech32(raw, text)
    if lowered.startswith(("tb1", "bcrt1")) or text[:1] in ("m", "n", "2"):
        raise _fail(
            obs_type, raw, f"{raw!r} is not accepted: it is a Bitcoin testnet or regtest address"
        )
    if text[:1] not in ("1", "3"):
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a Bitcoin address: expected base58 starting with 1 or 3, "
            "or bech32 starting with bc1",
        )
    bad = _first_non_base58(text)
    if bad is not None:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a Bitcoin address: character {bad[0]!r} at position {bad[1]} is "
            "not base58",
        )
    decoded = _base58_decode(text)
    if len(decoded) != 25:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a Bitcoin address: it decodes to {len(decoded)} bytes, expected 25",
        )
    if decoded[0] not in (0x00, 0x05):
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a Bitcoin address: version byte {decoded[0]:#04x} is neither "
            "P2PKH (0x00) nor P2SH (0x05)",
        )
    digest = hashlib.sha256(hashlib.sha256(decoded[:21]).digest()).digest()
    if digest[:4] != decoded[21:]:
        raise _fail(
            obs_type, raw, f"{raw!r} is not a Bitcoin address: base58check checksum mismatch"
        )
    return text


def keccak256(data: bytes) -> bytes:
    """Keccak-256 as Ethereum and Monero use it (not the NIST SHA3-256 padding)."""
    return keccak.new(digest_bits=256, data=data).digest()


_ETH_RE = re.compile(r"0[xX]([0-9a-fA-F]{40})")


def _eth(raw: str) -> str:
    obs_type = ObservableType.ETH
    match = _ETH_RE.fullmatch(raw.strip())
    if match is None:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not an Ethereum address: expected '0x' and 40 hexadecimal characters",
        )
    body = match.group(1)
    lower = body.lower()
    if body != lower and body != body.upper():
        digest = keccak256(lower.encode("ascii")).hex()
        for position, (char, nibble) in enumerate(zip(body, digest[:40], strict=True)):
            if char.isalpha():
                wanted = char.upper() if int(nibble, 16) >= 8 else char.lower()
                if char != wanted:
                    raise _fail(
                        obs_type,
                        raw,
                        f"{raw!r} fails the EIP-55 mixed-case checksum: the character at "
                        f"position {position + 2} should be {wanted!r}",
                    )
    return "0x" + lower


# Monero base58 works on 8-byte blocks encoded as 11 characters; a short final block of n bytes
# takes _XMR_BLOCK_CHARS[n] characters.
_XMR_BLOCK_CHARS = (0, 2, 3, 5, 6, 7, 9, 10, 11)
_XMR_BLOCK_BYTES = {chars: size for size, chars in enumerate(_XMR_BLOCK_CHARS)}
# Mainnet prefixes: 18 standard (starts "4"), 19 integrated ("4"), 42 subaddress ("8").
_XMR_PREFIXES = {18: (69, "standard"), 19: (77, "integrated"), 42: (69, "subaddress")}


def _xmr_decode(raw: str, text: str) -> bytes:
    out = bytearray()
    for offset in range(0, len(text), 11):
        block = text[offset : offset + 11]
        size = _XMR_BLOCK_BYTES.get(len(block))
        if size is None:
            raise _fail(
                ObservableType.XMR,
                raw,
                f"{raw!r} is not a Monero address: final block of {len(block)} characters",
            )
        number = 0
        for char in block:
            number = number * 58 + _BASE58_INDEX[char]
        if number >> (8 * size):
            raise _fail(
                ObservableType.XMR,
                raw,
                f"{raw!r} is not a Monero address: block {block!r} overflows {size} bytes",
            )
        out += number.to_bytes(size, "big")
    return bytes(out)


def _xmr(raw: str) -> str:
    obs_type = ObservableType.XMR
    text = raw.strip()
    if len(text) not in (95, 106):
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a Monero address: expected 95 (standard, subaddress) or 106 "
            f"(integrated) characters, found {len(text)}",
        )
    bad = _first_non_base58(text)
    if bad is not None:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a Monero address: character {bad[0]!r} at position {bad[1]} is "
            "not base58",
        )
    data = _xmr_decode(raw, text)
    prefix = _XMR_PREFIXES.get(data[0])
    if prefix is None:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a Monero mainnet address: network prefix {data[0]} is not 18, "
            "19 or 42",
        )
    if len(data) != prefix[0]:
        raise _fail(
            obs_type,
            raw,
            f"{raw!r} is not a Monero address: a {prefix[1]} address has {prefix[0]} bytes, "
            f"found {len(data)}",
        )
    if keccak256(data[:-4])[:4] != data[-4:]:
        raise _fail(obs_type, raw, f"{raw!r} is not a Monero address: Keccak-256 checksum mismatch")
    return text


# --------------------------------------------------------------------------- dispatch

_NETWORK_TYPES = frozenset(
    {
        ObservableType.IPV4,
        ObservableType.IPV6,
        ObservableType.DOMAIN,
        ObservableType.URL,
        ObservableType.EMAIL,
    }
)

_SIMPLE: dict[ObservableType, Callable[[str], str]] = {
    ObservableType.IPV4: _ipv4,
    ObservableType.DOMAIN: _domain,
    ObservableType.URL: _url,
    ObservableType.EMAIL: _email,
    ObservableType.MD5: functools.partial(_hash, ObservableType.MD5),
    ObservableType.SHA1: functools.partial(_hash, ObservableType.SHA1),
    ObservableType.SHA256: functools.partial(_hash, ObservableType.SHA256),
    ObservableType.SHA512: functools.partial(_hash, ObservableType.SHA512),
    ObservableType.CVE: _cve,
    ObservableType.BTC: _btc,
    ObservableType.ETH: _eth,
    ObservableType.XMR: _xmr,
    ObservableType.PHONE: _phone,
    ObservableType.IBAN: _iban,
    ObservableType.ASN: _asn,
}


def normalise_typed(obs_type: ObservableType, raw: str) -> tuple[ObservableType, str]:
    """Canonical (type, value); only IPv4-mapped IPv6 changes type (it becomes ipv4-addr)."""
    text = refang(raw) if obs_type in _NETWORK_TYPES else raw
    try:
        return normalise_refanged(obs_type, text)
    except InvalidObservable as error:
        if text is raw:
            raise
        raise _fail(obs_type, raw, error.reason) from None


def normalise_refanged(obs_type: ObservableType, text: str) -> tuple[ObservableType, str]:
    """normalise_typed for text that is already refanged, as `extract` has it: no second pass."""
    if obs_type is ObservableType.IPV6:
        return _ipv6(text)
    return obs_type, _SIMPLE[obs_type](text)


def normalise(obs_type: ObservableType, raw: str) -> str:
    """The one canonical form of `raw` as an observable of `obs_type`; InvalidObservable if not one.

    IPv4-mapped IPv6 addresses come back as IPv4 text: use normalise_typed to get the type too.
    """
    return normalise_typed(obs_type, raw)[1]


_DETECT_RULES: tuple[tuple[re.Pattern[str], ObservableType], ...] = (
    (re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+"), ObservableType.URL),
    (re.compile(r"(?:mailto:)?[^@\s/]+@[^@\s/]+", re.IGNORECASE), ObservableType.EMAIL),
    (re.compile(r"CVE[-\u2010-\u2013]\d{4}[-\u2010-\u2013]\d+", re.IGNORECASE), ObservableType.CVE),
    (re.compile(r"0[xX][0-9a-fA-F]{40}"), ObservableType.ETH),
    (re.compile(r"[0-9a-fA-F]{32}"), ObservableType.MD5),
    (re.compile(r"[0-9a-fA-F]{40}"), ObservableType.SHA1),
    (re.compile(r"[0-9a-fA-F]{64}"), ObservableType.SHA256),
    (re.compile(r"[0-9a-fA-F]{128}"), ObservableType.SHA512),
    (re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?"), ObservableType.IPV4),
    (re.compile(r"\[?[0-9a-fA-F:]*:[0-9a-fA-F:.]*\]?(?:/\d{1,3})?"), ObservableType.IPV6),
    (re.compile(r"ASN?\s?\d+(?:\.\d+)?", re.IGNORECASE), ObservableType.ASN),
    (re.compile(r"(?:tel:)?(?:\+|00)[\d\s().\-/]{6,}", re.IGNORECASE), ObservableType.PHONE),
    (re.compile(r"(?:IBAN:?\s*)?[A-Za-z]{2}\d{2}(?:\s?[A-Za-z0-9]){10,30}"), ObservableType.IBAN),
    (re.compile(r"(?:bc1|BC1)[0-9A-Za-z]{11,87}"), ObservableType.BTC),
    (re.compile(r"[13][1-9A-HJ-NP-Za-km-z]{25,34}"), ObservableType.BTC),
    (re.compile(r"[48][1-9A-HJ-NP-Za-km-z]{94}(?:[1-9A-HJ-NP-Za-km-z]{11})?"), ObservableType.XMR),
    (
        re.compile(r"[^\s/:@]+\.[^\s/:@]+(?::\d+)?[/?#]\S*|[^\s/:@]+\.[^\s/:@]+:\d+"),
        ObservableType.URL,
    ),
    (re.compile(r"[^\s/:@]+\.[^\s/:@]+"), ObservableType.DOMAIN),
)


def detect(raw: str) -> tuple[ObservableType, str] | None:
    """Guess the type of one value from its shape (for single-column lists) and normalise it.

    Returns None when no type accepts the value. Rules are tried in a fixed order; the first
    whose shape matches and whose normaliser accepts the value wins.
    """
    text = refang(raw.strip())
    if not text:
        return None
    for pattern, obs_type in _DETECT_RULES:
        if pattern.fullmatch(text) is None:
            continue
        try:
            return normalise_typed(obs_type, text)
        except InvalidObservable:
            continue
    return None
