"""Find observables in free text (reports, e-mails, chat exports) with few false positives.

Pipeline: refang the text, find candidates with precompiled regular expressions, drop the ones a
cheap test rules out (length, TLD, file extension, version context), then validate each with
`normalize` (public suffix list, checksums, phonenumbers). Offsets refer to the ORIGINAL text:
`text[e.start:e.end] == e.raw`, so a defanged "hxxp://evil[.]com" is reported with that raw form
and the canonical value "http://evil.com/".

Decisions (see docs/observables.md):
- A URL and its host are both reported (analysts pivot on either). Inside a URL nothing else of
  the network kind (domain, IP, e-mail, phone, IBAN) is reported, but hashes, CVE ids and
  wallets are (a VirusTotal link carries the hash an analyst wants).
- An e-mail address and its domain are both reported.
- "evil.com/gate.php" without a scheme is reported as the URL "http://evil.com/gate.php".
- A domain whose TLD is a common file extension ("invoice.zip", "setup.py", "README.md") is
  reported only when written with "www." or inside a URL with a scheme.
- An IPv4 address right after a version word ("version 1.2.3.4", "build 10.0.1.2", "v. 1.2.3.4")
  is a version number, not an address. A dotted run of five or more numbers is not an address.
- Hashes are hex runs of exactly 32/40/64/128 characters between non-alphanumerics that contain
  both a digit and a letter; a hex run of another length (longer data) yields nothing, and a hex
  label of a host name ("<md5>.example.ru") is part of the domain, not a hash.
- Phone numbers are found only in international form (+ or 00) and must be valid numbers.
- Results are deduplicated by (type, value) and keep the order of first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cyberfusion.observable.normalize import (
    IBAN_LENGTHS,
    InvalidObservable,
    is_known_tld,
    map_offset,
    normalise,
    normalise_typed,
    refang_spans,
)
from cyberfusion.observable.types import ObservableType

__all__ = ["FILE_EXTENSIONS", "URL_SCHEMES", "Extracted", "extract"]


@dataclass(frozen=True, slots=True)
class Extracted:
    """One observable found in a text: `raw` is `text[start:end]` of the text given to extract."""

    obs_type: ObservableType
    value: str
    raw: str
    start: int
    end: int


# File extensions (and file-like suffixes: macOS ".app" bundles, Perl ".pm", registry ".hiv"
# dumps, systemd ".target" units) that are also TLDs or often follow a file name; a domain with
# one of these as TLD needs a scheme or "www." to count. ".com", ".one", ".pub", ".ai" are left
# out: in threat intelligence they are far more often real domains than files.
FILE_EXTENSIONS = frozenset({
    "7z", "apk", "app", "asp", "aspx", "ax", "bak", "bat", "bin", "bmp", "bz2", "cab", "cfg",
    "cgi", "cmd", "conf", "cpl", "cpp", "crt", "csv", "dat", "deb", "dll", "dmg", "doc", "docm",
    "docx", "dot", "dotm", "drv", "eml", "exe", "gif", "go", "gz", "hiv", "hta", "htm", "html",
    "ico", "img", "ini", "iso", "jar", "java", "jpeg", "jpg", "js", "jse", "json", "jsp", "key",
    "lnk", "log", "md", "mov", "mp3", "mp4", "msg", "msi", "ocx", "odt", "pdf", "pem", "php",
    "pid", "pkg", "pm", "png", "pps", "ppt", "pptm", "pptx", "ps1", "py", "pyc", "rar", "rb",
    "rpm", "rtf", "scr", "sh", "so", "svg", "sys", "tar", "target", "tgz", "tmp", "txt", "vbe",
    "vbs", "vhd", "vhdx", "wav", "wsf", "xls", "xlsb", "xlsm", "xlsx", "xml", "xz", "yaml", "yml",
    "zip"
})  # fmt: skip

URL_SCHEMES = frozenset({
    "http", "https", "ftp", "ftps", "sftp", "ws", "wss", "ldap", "ldaps", "rmi", "dns", "smb",
    "tcp", "udp", "irc", "ircs", "telnet", "ssh", "rtsp", "git", "svn"
})  # fmt: skip

_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_URL_REST_RE = re.compile(r"[^\s<>\"'`{}|\\^]*+")
_PATH_RE = re.compile(r"(?::\d{1,5})?/[^\s<>\"'`{}|\\^]*+")
_TRAILING_PUNCTUATION = frozenset(".,;:!?'\"*")
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}

_DOMAIN_BODY = r"(?:\w(?:[\w\-]{0,61}\w)?\.)+(?:xn--[a-z0-9\-]{1,59}|[^\W\d_]{2,63})(?![\w\-]|\.\w)"
# Not after "::" ("Foo::Bar.new" is Ruby or C++), a backslash or a single slash (a path such as
# C:\Temp\mskmde.com or /var/run/irc.pid); "//host" (protocol-relative) is still a host.
_DOMAIN_RE = re.compile(r"(?<![\w.\-\\])(?<!::)(?<![^/]/)" + _DOMAIN_BODY, re.IGNORECASE)
# Reverse-DNS identifiers (com.apple.security, org.freedesktop.DBus) start with these labels.
_REVERSE_DNS_FIRST = frozenset({"com", "org", "net", "edu", "gov"})
_DOMAIN_AT_RE = re.compile(_DOMAIN_BODY, re.IGNORECASE)

_EMAIL_LOCAL_EXTRA = frozenset("._%+-")

_IPV4_RE = re.compile(
    r"\d(?<![\w.]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:/\d{1,2})?(?!\w|\.\w|-[A-Za-z])"
)
_IPV6_RE = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|:(?=:))[0-9A-Fa-f:.]*+(?:/\d{1,3})?")
# A version word, optionally followed by earlier versions of a list ("versions 1.2.3.4 and ").
_VERSION_CONTEXT_RE = re.compile(
    r"\b(?:v|ver|version|versions|build|builds|release|releases|rel|rev|revision|firmware|fw|"
    r"patch|update|kb|sp|driver|kernel)\.?\s*[:#=]?\s*"
    r"(?:\d+(?:\.\d+)*\s*(?:,|and|or|to|through|-|\u2013)\s*)*$",
    re.IGNORECASE,
)

_TOKEN_RE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{25,}+")
_HEX_RE = re.compile(r"[0-9A-Fa-f]+")
_HASH_TYPES = {
    32: ObservableType.MD5,
    40: ObservableType.SHA1,
    64: ObservableType.SHA256,
    128: ObservableType.SHA512,
}
_HASH_VALUES = frozenset(_HASH_TYPES.values())
_HAS_DIGIT_RE = re.compile(r"\d")
_HAS_HEX_LETTER_RE = re.compile(r"[a-fA-F]")
_CVE_RE = re.compile(
    r"[Cc](?<![\w\-][Cc])[Vv][Ee][-\u2010-\u2013]\d{4}[-\u2010-\u2013]\d{4,7}+(?!\d)"
)
_IBAN_RE = re.compile(
    r"[A-Z](?<![0-9A-Za-z][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![0-9A-Za-z])"
)
_PHONE_RE = re.compile(r"[+0](?<![\w+][+0])(?:(?<=\+)|0)\(?\d(?:[ \-.()/]{0,2}\d){6,16}+")
_PHONE_GROUP_RE = re.compile(r"[ \-.()/]+\d+$")


_IN_URL = 1
_TAKEN = 2


class _Collector:
    """Candidates found so far, and which characters of the refanged text they already cover.

    mask[i] is 0 (free), _IN_URL (inside a URL: only hashes, CVE ids and wallets may still be
    found there) or _TAKEN (part of another observable).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.mask = bytearray(len(text))
        self.found: list[tuple[int, int, int, ObservableType, str]] = []

    def taken(self, start: int, end: int) -> bool:
        return self.mask.count(0, start, end) != end - start

    def taken_outside_urls(self, start: int, end: int) -> bool:
        return self.mask.find(_TAKEN, start, end) != -1

    def claim(self, start: int, end: int, *, kind: int = _TAKEN) -> None:
        self.mask[start:end] = bytes((kind,)) * (end - start)

    def add(self, obs_type: ObservableType, value: str, start: int, end: int) -> None:
        self.found.append((start, len(self.found), end, obs_type, value))


def _trim_url_end(text: str, start: int, end: int) -> int:
    """Drop sentence punctuation and unbalanced closing brackets from the end of a URL."""
    balance: dict[str, int] = {}
    while end > start:
        last = text[end - 1]
        if last in _TRAILING_PUNCTUATION:
            end -= 1
        elif last in _CLOSERS:
            if last not in balance:
                # Counted once per bracket kind, then kept up to date as characters are dropped.
                body = text[start:end]
                balance[last] = body.count(last) - body.count(_CLOSERS[last])
            if balance[last] > 0:
                balance[last] -= 1
                end -= 1
            else:
                break
        else:
            break
    return end


def _add_host(found: _Collector, host_start: int, host_end: int) -> None:
    host = found.text[host_start:host_end]
    if host.startswith("[") and host.endswith("]"):
        obs_type, raw = ObservableType.IPV6, host[1:-1]
        host_start, host_end = host_start + 1, host_end - 1
    elif host.replace(".", "").isdigit():
        obs_type, raw = ObservableType.IPV4, host
    else:
        obs_type, raw = ObservableType.DOMAIN, host
    try:
        host_type, value = normalise_typed(obs_type, raw)
    except InvalidObservable:
        return  # a percent-encoded host: the URL itself was still reported
    found.add(host_type, value, host_start, host_end)


def _find_urls(found: _Collector) -> None:
    text = found.text
    position = 0
    while (separator := text.find("://", position)) != -1:
        position = separator + 3
        start = separator
        while start > 0 and separator - start < 16 and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        scheme = text[start:separator].lower()
        if scheme not in URL_SCHEMES:
            # "xhttp://": keep the longest known scheme that ends at the separator.
            for offset in range(start + 1, separator):
                if text[offset:separator].lower() in URL_SCHEMES:
                    start = offset
                    break
            else:
                continue
        rest = _URL_REST_RE.match(text, position)
        end = _trim_url_end(text, start, rest.end() if rest else position)
        if end <= position:
            continue
        found.claim(start, end, kind=_IN_URL)
        position = end
        try:
            value = normalise(ObservableType.URL, text[start:end])
        except InvalidObservable:
            continue
        found.add(ObservableType.URL, value, start, end)
        authority_end = separator + 3
        while authority_end < end and text[authority_end] not in "/?#":
            authority_end += 1
        host_start = text.rfind("@", separator + 3, authority_end) + 1 or separator + 3
        host_end = authority_end
        if text.startswith("[", host_start):
            close = text.find("]", host_start, authority_end)
            host_end = close + 1 if close != -1 else authority_end
        else:
            colon = text.find(":", host_start, authority_end)
            host_end = colon if colon != -1 else authority_end
        _add_host(found, host_start, host_end)


def _token_type(token: str) -> ObservableType | None:
    """Which self-delimited type an alphanumeric run of 25+ characters can be, by shape alone."""
    size = len(token)
    first = token[0]
    if size in _HASH_TYPES and _HEX_RE.fullmatch(token) is not None:
        # A 32-digit decimal number or a run of letters is not a digest.
        if _HAS_DIGIT_RE.search(token) and _HAS_HEX_LETTER_RE.search(token):
            return _HASH_TYPES[size]
        return None
    if size == 42 and first == "0" and token[1] in "xX":
        return ObservableType.ETH
    if first in "13" and size <= 35:
        return ObservableType.BTC
    if token[:3] in ("bc1", "BC1") and size <= 90:
        return ObservableType.BTC
    if first in "48" and size in (95, 106):
        return ObservableType.XMR
    return None


def _find_self_delimited(found: _Collector) -> None:
    """Hashes, CVE ids and wallets: they carry their own shape and checksums, even inside URLs."""
    text = found.text
    for match in _TOKEN_RE.finditer(text):
        token = match.group()
        obs_type = _token_type(token)
        if obs_type is None or found.taken_outside_urls(match.start(), match.end()):
            continue
        if obs_type in _HASH_VALUES:
            value = token.lower()
        else:
            try:
                value = normalise(obs_type, token)
            except InvalidObservable:
                continue
        found.add(obs_type, value, match.start(), match.end())
        found.claim(match.start(), match.end())
    for match in _CVE_RE.finditer(text):
        if found.taken_outside_urls(match.start(), match.end()):
            continue
        try:
            value = normalise(ObservableType.CVE, match.group())
        except InvalidObservable:
            continue
        found.add(ObservableType.CVE, value, match.start(), match.end())
        found.claim(match.start(), match.end())


def _find_emails(found: _Collector) -> None:
    text = found.text
    position = 0
    while (at := text.find("@", position)) != -1:
        position = at + 1
        if found.mask[at]:
            continue
        start = at
        while start > 0 and at - start <= 64:
            char = text[start - 1]
            if not (char.isalnum() or char in _EMAIL_LOCAL_EXTRA):
                break
            start -= 1
        while start < at and text[start] == ".":
            start += 1
        domain = _DOMAIN_AT_RE.match(text, at + 1)
        if start == at or domain is None or found.taken(start, domain.end()):
            continue
        try:
            value = normalise(ObservableType.EMAIL, text[start : domain.end()])
        except InvalidObservable:
            continue
        found.add(ObservableType.EMAIL, value, start, domain.end())
        found.add(ObservableType.DOMAIN, value.rpartition("@")[2], domain.start(), domain.end())
        found.claim(start, domain.end())
        position = domain.end()


def _find_ibans(found: _Collector) -> None:
    text = found.text
    for match in _IBAN_RE.finditer(text):
        candidate = match.group()
        expected = IBAN_LENGTHS.get(candidate[:2])
        compact_length = len(candidate) - candidate.count(" ")
        if expected is None or compact_length < expected:
            continue
        end = match.end()
        if compact_length > expected:
            # Text after the IBAN that looks like more groups ("... 00 EUR"): cut at its length.
            seen = 0
            for offset, char in enumerate(candidate):
                if char != " ":
                    seen += 1
                    if seen == expected:
                        end = match.start() + offset + 1
                        break
            if end < len(text) and text[end] != " ":
                continue
        if found.taken(match.start(), end):
            continue
        try:
            value = normalise(ObservableType.IBAN, text[match.start() : end])
        except InvalidObservable:
            continue
        found.add(ObservableType.IBAN, value, match.start(), end)
        found.claim(match.start(), end)


def _find_ips(found: _Collector) -> None:
    text = found.text
    size = len(text)
    for match in _IPV6_RE.finditer(text):
        start, end = match.span()
        candidate = match.group()
        while candidate.endswith(".") or (candidate.endswith(":") and not candidate.endswith("::")):
            candidate = candidate[:-1]
            end -= 1
        colons = candidate.count(":")
        if colons < 2 or ("::" not in candidate and colons < 6):
            continue
        if candidate.strip(":") == "" or (end < size and text[end].isalnum()):
            continue
        if found.taken(start, end):
            continue
        try:
            obs_type, value = normalise_typed(ObservableType.IPV6, candidate)
        except InvalidObservable:
            continue
        found.add(obs_type, value, start, end)
        found.claim(start, end)
    for match in _IPV4_RE.finditer(text):
        start, end = match.span()
        if found.taken(start, end):
            continue
        if _VERSION_CONTEXT_RE.search(text, max(0, start - 60), start) is not None:
            continue
        try:
            value = normalise(ObservableType.IPV4, match.group())
        except InvalidObservable:
            continue
        found.add(ObservableType.IPV4, value, start, end)
        found.claim(start, end)


def _find_domains(found: _Collector) -> None:
    text = found.text
    for match in _DOMAIN_RE.finditer(text):
        start, end = match.span()
        candidate = match.group()
        tld_raw = candidate[candidate.rfind(".") + 1 :]
        tld = tld_raw.lower()
        has_www = candidate[:4].lower() == "www."
        if tld.isascii() and not is_known_tld(tld):
            continue
        if tld in FILE_EXTENSIONS and not has_www:
            continue
        # "end of sentence.Next sentence" and "System.Net": a Title-case TLD is not a host name;
        # "Microsoft.NET" and "YSoSerial.NET": a capital TLD after lower-case letters is a
        # product name.
        if not has_www and (
            (tld_raw[0].isupper() and tld_raw[1:].islower())
            or (tld_raw.isupper() and not candidate.isupper())
        ):
            continue
        if candidate[: candidate.find(".")].lower() in _REVERSE_DNS_FIRST:
            continue
        if found.taken(start, end):
            continue
        try:
            value = normalise(ObservableType.DOMAIN, candidate)
        except InvalidObservable:
            continue
        path = _PATH_RE.match(text, end)
        if path is not None:
            url_end = _trim_url_end(text, start, path.end())
            if url_end - end > 1 and not found.taken(end, url_end):
                try:
                    url = normalise(ObservableType.URL, text[start:url_end])
                except InvalidObservable:
                    pass
                else:
                    found.add(ObservableType.URL, url, start, url_end)
                    found.claim(start, url_end, kind=_IN_URL)
        found.add(ObservableType.DOMAIN, value, start, end)
        found.claim(start, end)


def _find_phones(found: _Collector) -> None:
    text = found.text
    for match in _PHONE_RE.finditer(text):
        start, end = match.span()
        candidate = match.group()
        # A number may be followed by unrelated digits ("+44 20 7946 0958 2023"): try shorter.
        for _ in range(3):
            if not found.taken(start, end):
                try:
                    value = normalise(ObservableType.PHONE, candidate)
                except InvalidObservable:
                    pass
                else:
                    found.add(ObservableType.PHONE, value, start, end)
                    found.claim(start, end)
                    break
            shorter = _PHONE_GROUP_RE.search(candidate)
            if shorter is None:
                break
            candidate = candidate[: shorter.start()]
            end = start + len(candidate)


def extract(text: str) -> list[Extracted]:
    """All observables in `text`, deduplicated by (type, value), in order of first occurrence."""
    refanged, edits = refang_spans(text)
    found = _Collector(refanged)
    # Order matters: each step skips characters that an earlier one already explained.
    _find_urls(found)
    _find_emails(found)
    _find_domains(found)  # before hashes: "<md5>.example.ru" is a host name, not a hash
    _find_self_delimited(found)
    _find_ibans(found)
    _find_ips(found)
    _find_phones(found)
    found.found.sort()
    starts = [edit.start for edit in edits]
    seen: set[tuple[ObservableType, str]] = set()
    results: list[Extracted] = []
    for start, _, end, obs_type, value in found.found:
        key = (obs_type, value)
        if key in seen:
            continue
        seen.add(key)
        orig_start = map_offset(edits, starts, start, is_end=False)
        orig_end = map_offset(edits, starts, end, is_end=True)
        results.append(
            Extracted(
                obs_type=obs_type,
                value=value,
                raw=text[orig_start:orig_end],
                start=orig_start,
                end=orig_end,
            )
        )
    return results
