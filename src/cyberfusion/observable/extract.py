"""Find observables in free text (reports, e-mails, chat exports) with few false positives.

Pipeline: refang the text, find candidates from cheap anchors (the dot before a top-level
domain, the dots of a dotted quad, "://", "@", ":"), drop the ones a cheap test rules out
(TLD set, file extension, version or code context), then validate each with `normalize`
(public suffix list, checksums, phonenumbers). Offsets refer to the ORIGINAL text:
`text[e.start:e.end] == e.raw`, so a defanged "hxxp://evil[.]com" is reported with that raw
form and the canonical value "http://evil.com/".

Decisions (see docs/observables.md):
- A URL and its host are both reported (analysts pivot on either). Inside a URL nothing else of
  the network kind (domain, IP, e-mail, phone, IBAN) is reported, but hashes, CVE ids and
  wallets are (a VirusTotal link carries the hash an analyst wants).
- An e-mail address and its domain are both reported.
- "evil.com/gate.php" or "198.51.100.7/x.sh" without a scheme is reported as the URL
  "http://evil.com/gate.php" (and its host).
- A domain whose TLD is a common file extension ("invoice.zip", "setup.py", "README.md") is
  reported only when written with "www." or inside a URL with a scheme. Code is not a domain:
  a name followed by "(" ("logger.info(x)"), a name on "self", "this", "os" and the like, a
  reverse-DNS identifier ("com.apple.security"), a product name ("ASP.NET").
- An IPv4 address right after a version or section word ("version 1.2.3.4", "build 10.0.1.2",
  "section 4.2.1.3", "OID 2.5.4.3", also in French, Spanish, Russian, Chinese...), right
  after "Product/" ("Chrome/120.0.0.0") or right before "or later" is a version number, not an
  address. A dotted run of five or more numbers is not an address.
- Hashes are hex runs of exactly 32/40/64/128 characters between non-alphanumerics that contain
  both a digit and a letter; a hex run of another length (longer data) yields nothing, a hex
  label of a host name ("<md5>.example.ru") is part of the domain, and a 32-digit run right
  after "ID", "UUID", "session" or "token" is an identifier, not an MD5.
- Phone numbers are found only in international form (+ or 00) and must be valid numbers.
- In Chinese, Japanese, Korean or Thai text, where words are not separated by spaces, a change
  between such a script and another ("访问evil.com获取") ends an observable.
- Results are deduplicated by (type, value) and keep the order of first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cyberfusion.observable.normalize import (
    IBAN_LENGTHS,
    InvalidObservable,
    known_tlds,
    normalise_refanged,
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
# dumps, systemd ".target" units, Java ".properties", source ".map" files) that are also TLDs or
# often follow a file name. A name with one of these as TLD is a file when it has two labels
# ("invoice.zip", "setup.py") or when its next-to-last label is an extension too
# ("Invoice.pdf.zip", "app.bundle.js.map"); it needs "www." or a scheme to count as a host.
# Longer names are hosts ("x.netlify.app", "easy-blue-tick.surge.sh"). ".com", ".one", ".pub",
# ".ai" are left out: in threat intelligence they are far more often real domains than files.
FILE_EXTENSIONS = frozenset({
    "7z", "apk", "app", "asp", "aspx", "ax", "bak", "bat", "bin", "bmp", "bz2", "cab", "cfg",
    "cgi", "cmd", "conf", "cpl", "cpp", "crt", "csv", "dat", "deb", "dll", "dmg", "doc", "docm",
    "docx", "dot", "dotm", "drv", "eml", "exe", "gif", "go", "gz", "hiv", "hta", "htm", "html",
    "ico", "img", "ini", "iso", "jar", "java", "jpeg", "jpg", "js", "jse", "json", "jsp", "key",
    "lnk", "log", "map", "md", "mov", "mp3", "mp4", "msg", "msi", "ocx", "odt", "pdf", "pem",
    "php", "pid", "pkg", "pm", "png", "pps", "ppt", "pptm", "pptx", "properties", "ps1", "py",
    "pyc", "rar", "rb", "rpm", "rs", "rtf", "scr", "sh", "so", "svg", "sys", "tar", "target",
    "tf", "tgz", "tmp", "txt", "vbe", "vbs", "vhd", "vhdx", "wav", "wsf", "xls", "xlsb", "xlsm",
    "xlsx", "xml", "xz", "yaml", "yml", "zip"
})  # fmt: skip
# Labels that, before a file-extension TLD, make the name a file: other extensions, and the
# "min" of minified scripts.
_INNER_EXTENSIONS = FILE_EXTENSIONS | {"css", "min", "bundle", "tar", "ts"}

URL_SCHEMES = frozenset({
    "http", "https", "ftp", "ftps", "sftp", "ws", "wss", "ldap", "ldaps", "rmi", "dns", "smb",
    "tcp", "udp", "irc", "ircs", "telnet", "ssh", "rtsp", "git", "svn"
})  # fmt: skip

# Scripts written without spaces between words (Thai, Lao, Myanmar, Khmer, Chinese, Japanese,
# Korean) and their punctuation and full-width forms.
_NO_SPACE = (
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff"
    "\u3100-\u31ff\u3200-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7af\uf900-\ufaff"
    "\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0002fa1f"
)
_NO_SPACE_RE = re.compile(f"[{_NO_SPACE}]")
# Such a character next to a word character of another script ("访问evil.com获取") is where one
# word ends: it becomes a space in the text the finders scan (same length, so offsets hold).
_SCRIPT_BOUNDARY_RE = re.compile(
    f"[{_NO_SPACE}](?=[^\\W{_NO_SPACE}])|(?<=[^\\W{_NO_SPACE}])[{_NO_SPACE}]"
)

_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
# A URL ends at white space, quotes (also typographic ones), brackets that cannot occur in it,
# and at a character of a script written without spaces, full-width punctuation included
# ("https://a.cn/login" then U+FF0C and Chinese text).
_URL_STOP = "\\s<>\"'`{}|\\\\^\u00ab\u00bb\u2018-\u201f" + _NO_SPACE
_URL_REST_RE = re.compile(f"[^{_URL_STOP}]*+")
_PATH_RE = re.compile(f"(?::\\d{{1,5}})?/[^{_URL_STOP}]*+")
_TRAILING_PUNCTUATION = frozenset(".,;:!?'\"*")
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}

# The dot and label that end a host name: candidates are found from the dot before the TLD,
# which the regex engine finds fast; the rest of the name is read backwards from there.
_TLD_RE = re.compile(r"\.(?:[xX][nN]--[A-Za-z0-9\-]{1,59}+|[^\W\d_]{2,63}+)(?![\w\-]|\.\w)")
_NAME_BACK_RE = re.compile(r"[\w.\-]*+")  # matched on the reversed text
_DOMAIN_AT_RE = re.compile(
    r"(?:\w(?:[\w\-]{0,61}\w)?\.)+(?:xn--[a-z0-9\-]{1,59}|[^\W\d_]{2,63})(?![\w\-]|\.\w)",
    re.IGNORECASE,
)
# Reverse-DNS identifiers (com.apple.security, org.freedesktop.DBus, io.netty.channel) start
# with these labels.
_REVERSE_DNS_FIRST = frozenset({"com", "org", "net", "edu", "gov", "io"})
_CLASSIC_TLDS = frozenset({"com", "net", "org", "info", "biz"})
_SECOND_LEVEL_LABELS = frozenset({"co", "com", "net", "org", "gov", "ac", "edu"})
# Objects whose attributes code reads ("self.name", "this.info", "os.path", "logger.info").
_CODE_RECEIVERS = frozenset({
    "self", "this", "cls", "super", "os", "sys", "logger", "logging", "console", "window",
    "document",
})  # fmt: skip
# Product names written like host names in capitals.
_PRODUCT_NAMES = frozenset({"ASP.NET", "VB.NET", "ADO.NET"})
# Academic titles ("Dr.med.vet." is a German veterinary doctorate, not dr.med.vet).
_TITLES = frozenset({"Dr", "Prof", "Dipl"})

_EMAIL_LOCAL_EXTRA = frozenset("._%+-")

_IPV4_TAIL_RE = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:/\d{1,2})?(?!\w|\.\w|-[A-Za-z])")
_IPV6_RE = re.compile(r"(?:[0-9A-Fa-f]{1,4}:|:(?=:))[0-9A-Fa-f:.]*+(?:/\d{1,3})?")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")

# Words after which a dotted quad is a version, a section or an OID, matched on the REVERSED
# text before the candidate (one anchored match instead of a search): "version 1.2.3.4",
# "versions 1.1.0.9, 1.2.0.15 and 1.3.0.2", "section 4.2.1.3", "версия 2.4.1.10", "版本2.4.1.11".
_VERSION_WORDS = (
    "v", "ver", "version", "versions", "build", "builds", "release", "releases", "rel", "rev",
    "revision", "firmware", "fw", "patch", "update", "kb", "sp", "driver", "kernel", "section",
    "sections", "sect", "sec", "clause", "chapter", "chap", "paragraph", "para", "appendix",
    "annex", "article", "art", "figure", "fig", "table", "step", "requirement", "req",
    "recommendation", "recommendations", "oid", "versión", "versiones", "versione", "versioni",
    "versão", "versões", "versionen", "версия", "версии", "версию", "версией", "إصدار",
    "الإصدار",
)  # fmt: skip
_VERSION_WORDS_CJK = ("版本", "バージョン", "버전", "§")
_LIST_WORDS = ("and", "or", "to", "through", "y", "et", "ou", "und", "oder", "и", "или", "和")


def _reversed_alternatives(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(word[::-1]) for word in sorted(words, key=len, reverse=True))


_VERSION_BEFORE_RE = re.compile(
    r"\s*(?:(?:[,\-\u2013\u3001]|(?:" + _reversed_alternatives(_LIST_WORDS) + r")(?!\w))"
    r"\s*\d+(?:\.\d+)*\s*)*[:#=]?\s*\.?"
    r"(?:(?:" + _reversed_alternatives(_VERSION_WORDS) + r")(?!\w)"
    r"|" + _reversed_alternatives(_VERSION_WORDS_CJK) + r")",
    re.IGNORECASE,
)
_VERSION_AFTER_RE = re.compile(
    r"[ \t]*\(?(?:or|and)[ \t]+(?:later|earlier|newer|older|higher|lower|above|below)\b",
    re.IGNORECASE,
)
_VERSION_WINDOW = 80
# A product token before a slash, as in User-Agent and Server headers ("Chrome/120.0.0.0",
# "PHP/8.1.2.1"), matched backwards; Squid's "HIER_DIRECT/198.51.100.7" is an address.
_PRODUCT_BEFORE_RE = re.compile(r"/[A-Za-z0-9.\-]*[A-Za-z](?!\w)")

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
# A 32-digit hex run right after one of these words is an identifier (a UUID written without
# dashes, a session id, a ransom note's victim id), not an MD5.
_ID_CONTEXT_RE = re.compile(
    r"\b(?:uuid|guid|id|identifier|session|token|nonce|key|serial)\b[\s:=#'\"(\[]*$",
    re.IGNORECASE,
)
_CVE_RE = re.compile(
    r"[Cc](?<![\w\-][Cc])[Vv][Ee][-\u2010-\u2013]\d{4}[-\u2010-\u2013]\d{4,7}+(?!\d)"
)
_CVE_PREFIXES = tuple(first + second + third for first in "Cc" for second in "Vv" for third in "Ee")
_IBAN_RE = re.compile(
    r"[A-Z](?<![0-9A-Za-z][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![0-9A-Za-z])"
)
# International numbers: "+" or "00" then digits with separators. Each form has its own regex,
# starting with its literal, so the engine skips quickly to the few places worth trying.
_PHONE_RES = (
    re.compile(r"\+(?<![\w+]\+)\(?\d(?:[ \-.()/]{0,2}\d){6,16}+"),
    re.compile(r"00(?<![\w+]00)\(?\d(?:[ \-.()/]{0,2}\d){6,16}+"),
)
_PHONE_GROUP_RE = re.compile(r"[ \-.()/]+\d+$")


_IN_URL = 1
_TAKEN = 2
_TAKEN_BYTE = bytes((_TAKEN,))


class _Collector:
    """Candidates found so far, and which characters of the scanned text they already cover.

    `text` is the refanged text with script boundaries turned into spaces (what the finders
    scan), `context` the refanged text itself (for context words such as "版本").
    mask[i] is 0 (free), _IN_URL (inside a URL: only hashes, CVE ids and wallets may still be
    found there) or _TAKEN (part of another observable).
    """

    def __init__(self, text: str, context: str) -> None:
        self.text = text
        self.context = context
        self.mask = bytearray(len(text))
        self.found: list[tuple[int, int, int, ObservableType, str]] = []
        # Normalised host names by candidate text: reports repeat the same few names.
        self.names: dict[str, str | None] = {}
        self._reversed_text: str | None = None
        self._reversed_context: str | None = None

    @property
    def reversed_text(self) -> str:
        """The scanned text backwards, made once: some candidates are read right to left."""
        if self._reversed_text is None:
            self._reversed_text = self.text[::-1]
        return self._reversed_text

    @property
    def reversed_context(self) -> str:
        if self.context is self.text:
            return self.reversed_text
        if self._reversed_context is None:
            self._reversed_context = self.context[::-1]
        return self._reversed_context

    def taken(self, start: int, end: int) -> bool:
        return self.mask.count(0, start, end) != end - start

    def taken_outside_urls(self, start: int, end: int) -> bool:
        return self.mask.find(_TAKEN, start, end) != -1

    def claim(self, start: int, end: int, *, kind: int = _TAKEN) -> None:
        self.mask[start:end] = bytes((kind,)) * (end - start)

    def add(self, obs_type: ObservableType, value: str, start: int, end: int) -> None:
        self.found.append((start, len(self.found), end, obs_type, value))


def _normalised(obs_type: ObservableType, text: str) -> tuple[ObservableType, str] | None:
    try:
        return normalise_refanged(obs_type, text)
    except InvalidObservable:
        return None


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


def _add_schemeless_url(found: _Collector, start: int, host_end: int) -> None:
    """Report "host/path" (no scheme) as the URL "http://host/path" when a path follows."""
    text = found.text
    path = _PATH_RE.match(text, host_end)
    if path is None:
        return
    url_end = _trim_url_end(text, start, path.end())
    if url_end - host_end <= 1 or found.taken(host_end, url_end):
        return
    url = _normalised(ObservableType.URL, text[start:url_end])
    if url is not None:
        found.add(ObservableType.URL, url[1], start, url_end)
        found.claim(start, url_end, kind=_IN_URL)


def _add_host(found: _Collector, host_start: int, host_end: int) -> None:
    host = found.text[host_start:host_end]
    if host.startswith("[") and host.endswith("]"):
        obs_type, raw = ObservableType.IPV6, host[1:-1]
        host_start, host_end = host_start + 1, host_end - 1
    elif host.replace(".", "").isdigit():
        obs_type, raw = ObservableType.IPV4, host
    else:
        obs_type, raw = ObservableType.DOMAIN, host
    result = _normalised(obs_type, raw)
    if result is not None:  # None: a percent-encoded host; the URL itself was still reported
        found.add(result[0], result[1], host_start, host_end)


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
        url = _normalised(ObservableType.URL, text[start:end])
        if url is None:
            continue
        found.add(ObservableType.URL, url[1], start, end)
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
        email = _normalised(ObservableType.EMAIL, text[start : domain.end()])
        if email is None:
            continue
        found.add(ObservableType.EMAIL, email[1], start, domain.end())
        found.add(ObservableType.DOMAIN, email[1].rpartition("@")[2], domain.start(), domain.end())
        found.claim(start, domain.end())
        position = domain.end()


def _is_file_name(candidate: str, tld_dot: int) -> bool:
    """Whether a name whose TLD is a file extension is a file: see FILE_EXTENSIONS."""
    inner_dot = candidate.rfind(".", 0, tld_dot)
    if inner_dot == -1:
        # Two labels. A macOS bundle is capitalised ("Terminal.app"); "coin-zilla.app" is a host.
        return not candidate.endswith((".app", ".APP")) or candidate[0].isupper()
    return candidate[inner_dot + 1 : tld_dot].lower() in _INNER_EXTENSIONS


def _is_code_or_name(text: str, candidate: str, end: int) -> bool:
    """Whether a well-formed host name candidate is really code, a product or an abbreviation."""
    first = candidate[: candidate.find(".")]
    if first.lower() in _REVERSE_DNS_FIRST:
        # "com.apple.security", "io.netty.channel" are identifiers; "gov.in.crsa.site" (a
        # two-letter country after "gov"), "io.withlincolnproductions.com" and
        # "gov.verifycertificate.co.in" (a classic TLD or a country's second level at the end,
        # which identifiers do not have) are hosts.
        labels = candidate.lower().split(".")
        if not (
            len(labels[1]) == 2
            or labels[-1] in _CLASSIC_TLDS
            or (len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL_LABELS)
        ):
            return True
    if first in _TITLES:
        return True
    if first in _CODE_RECEIVERS and candidate.count(".") == 1:
        return True  # "self.name", "this.info"; "sys.usapappers.com" is a host
    if text.startswith("(", end):
        return True  # a method call: "logger.info(path)", "subprocess.run(cmd)"
    return candidate in _PRODUCT_NAMES


# First labels that send a candidate to _is_code_or_name (lower case); most names skip it.
_SUSPECT_FIRST_LABELS = frozenset(
    _REVERSE_DNS_FIRST | _CODE_RECEIVERS | {title.lower() for title in _TITLES}
)


def _find_domains(found: _Collector) -> None:
    text = found.text
    size = len(text)
    names = found.names
    mask = found.mask
    results = found.found
    known = known_tlds()
    backwards = ""
    for match in _TLD_RE.finditer(text):
        dot, end = match.span()
        tld_raw = text[dot + 1 : end]
        tld = tld_raw.lower()
        if tld not in known and tld.isascii():
            continue
        if not backwards:
            backwards = found.reversed_text
        back = _NAME_BACK_RE.match(backwards, size - dot)
        start = dot - (back.end() - back.start()) if back is not None else dot
        if start == dot or text[start] in ".-":
            continue
        if start > 0:
            before = text[start - 1]
            # Not after a backslash or a single slash: a path such as C:\Temp\mskmde.com or
            # /var/run/irc.pid ("//host", protocol-relative, is still a host).
            if before == "\\" or (before == "/" and (start < 2 or text[start - 2] != "/")):
                continue
        candidate = text[start:end]
        if ".." in candidate or ".-" in candidate or "-." in candidate:
            continue  # an empty label, or one that starts or ends with a hyphen
        has_www = candidate[:4].lower() == "www."
        if not has_www:
            if tld in FILE_EXTENSIONS and _is_file_name(candidate, dot - start):
                continue
            # "end of sentence.Next sentence" and "System.Net": a Title-case TLD is not a host
            # name; "Microsoft.NET" and "YSoSerial.NET": a capital TLD after lower-case letters
            # is a product name.
            if tld_raw[0].isupper() and (
                tld_raw[1:].islower() or (tld_raw.isupper() and not candidate.isupper())
            ):
                continue
        first = candidate[: candidate.find(".")].lower()
        if (
            first in _SUSPECT_FIRST_LABELS or text.startswith("(", end) or candidate.isupper()
        ) and _is_code_or_name(text, candidate, end):
            continue
        if start > 1 and text[start - 1] == ":" and text[start - 2] == ":":
            continue  # "Foo::Bar.new" is Ruby or C++
        if mask.count(0, start, end) != end - start:
            continue
        if candidate in names:
            value = names[candidate]
        else:
            result = _normalised(ObservableType.DOMAIN, candidate)
            value = names[candidate] = result[1] if result is not None else None
        if value is None:
            continue
        if end < size and text[end] in "/:":
            _add_schemeless_url(found, start, end)
        results.append((start, len(results), end, ObservableType.DOMAIN, value))
        mask[start:end] = _TAKEN_BYTE * (end - start)


def _is_version(found: _Collector, start: int, end: int) -> bool:
    """Whether the dotted quad at text[start:end] is a version, section or OID number."""
    context = found.context
    rev_start = len(context) - start
    backwards = found.reversed_context
    if _VERSION_BEFORE_RE.match(backwards, rev_start, rev_start + _VERSION_WINDOW) is not None:
        return True
    if start > 1 and context[start - 1] == "/" and _PRODUCT_BEFORE_RE.match(backwards, rev_start):
        return True
    return _VERSION_AFTER_RE.match(context, end) is not None


def _find_ipv4(found: _Collector) -> None:
    text = found.text
    for match in _IPV4_TAIL_RE.finditer(text):
        dot, end = match.span()
        start = dot
        while start > 0 and dot - start < 3 and text[start - 1].isdecimal():
            start -= 1
        if start == dot:
            continue
        if start > 0:
            before = text[start - 1]
            if before.isalnum() or before in "_.":
                continue  # part of a longer dotted run or of a word ("v1.2.3.4")
        if found.taken(start, end) or _is_version(found, start, end):
            continue
        address = _normalised(ObservableType.IPV4, text[start:end])
        if address is None:
            continue
        if "/" not in text[start:end]:  # a CIDR block has no path
            path = _PATH_RE.match(text, end)
            slash = text.find("/", end, path.end()) if path is not None else -1
            # "198.51.100.7/x.sh", not "198.51.100.7/255.255.255.0" (a netmask).
            if slash != -1 and slash + 1 < len(text) and not text[slash + 1].isdigit():
                _add_schemeless_url(found, start, end)
        found.add(ObservableType.IPV4, address[1], start, end)
        found.claim(start, end)


def _find_ipv6(found: _Collector) -> None:
    text = found.text
    size = len(text)
    position = 0
    while (colon := text.find(":", position)) != -1:
        # Candidates are runs of hex digits, colons and dots; read back to the run's start.
        start = colon
        while start > 0 and text[start - 1] in _IPV6_CHARS:
            start -= 1
        position = colon + 1
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
            # Inside a word ("std::vector", "arn:aws:iam::"): skip the whole run.
            while position < size and text[position] in _IPV6_CHARS:
                position += 1
            continue
        match = _IPV6_RE.match(text, start)
        if match is None:
            continue
        end = match.end()
        position = max(position, end)
        candidate = match.group()
        while candidate.endswith(".") or (candidate.endswith(":") and not candidate.endswith("::")):
            candidate = candidate[:-1]
            end -= 1
        colons = candidate.count(":")
        if colons < 2 or ("::" not in candidate and colons < 6):
            continue
        if candidate.strip(":") == "" or (end < size and (text[end].isalnum() or text[end] == "%")):
            continue  # "::" alone, a longer word, or a zone index ("fe80::1%eth0")
        if found.taken(start, end):
            continue
        address = _normalised(ObservableType.IPV6, candidate)
        if address is None:
            continue
        found.add(address[0], address[1], start, end)
        found.claim(start, end)


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
            if obs_type is ObservableType.MD5 and _ID_CONTEXT_RE.search(
                found.context, max(0, match.start() - 30), match.start()
            ):
                continue
            value = token.lower()
        else:
            result = _normalised(obs_type, token)
            if result is None:
                continue
            value = result[1]
        found.add(obs_type, value, match.start(), match.end())
        found.claim(match.start(), match.end())
    # CVE ids start with "CVE" in some case: find those literals, then match there.
    starts = sorted(
        position
        for prefix in _CVE_PREFIXES
        if prefix in text
        for position in _find_all(text, prefix)
    )
    for position in starts:
        cve_match = _CVE_RE.match(text, position)
        if cve_match is None:
            continue
        start, end = cve_match.span()
        cve = (
            None
            if found.taken_outside_urls(start, end)
            else _normalised(ObservableType.CVE, cve_match.group())
        )
        if cve is not None:
            found.add(ObservableType.CVE, cve[1], start, end)
            found.claim(start, end)


def _find_all(text: str, literal: str) -> list[int]:
    positions: list[int] = []
    position = text.find(literal)
    while position != -1:
        positions.append(position)
        position = text.find(literal, position + 1)
    return positions


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
        iban = _normalised(ObservableType.IBAN, text[match.start() : end])
        if iban is None:
            continue
        found.add(ObservableType.IBAN, iban[1], match.start(), end)
        found.claim(match.start(), end)


def _find_phones(found: _Collector) -> None:
    text = found.text
    matches = [
        match
        for phone_re, prefix in zip(_PHONE_RES, ("+", "00"), strict=True)
        if prefix in text
        for match in phone_re.finditer(text)
    ]
    matches.sort(key=lambda match: match.start())
    last_end = 0
    for match in matches:
        start, end = match.span()
        if start < last_end:
            continue  # "+33 1 00 12 ..." is one candidate, not two
        last_end = end
        candidate = match.group()
        # A number may be followed by unrelated digits ("+44 20 7946 0958 2023"): try shorter.
        for _ in range(3):
            if not found.taken(start, end):
                phone = _normalised(ObservableType.PHONE, candidate)
                if phone is not None:
                    found.add(ObservableType.PHONE, phone[1], start, end)
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
    scanned = refanged
    if not refanged.isascii() and _NO_SPACE_RE.search(refanged) is not None:
        scanned = _SCRIPT_BOUNDARY_RE.sub(" ", refanged)
    found = _Collector(scanned, refanged)
    # Order matters: each step skips characters that an earlier one already explained.
    _find_urls(found)
    _find_emails(found)
    _find_domains(found)  # before hashes: "<md5>.example.ru" is a host name, not a hash
    _find_ipv6(found)
    _find_ipv4(found)
    _find_self_delimited(found)
    _find_ibans(found)
    _find_phones(found)
    found.found.sort()
    seen: set[tuple[ObservableType, str]] = set()
    results: list[Extracted] = []
    # Map offsets back to the caller's text. Results come sorted by start, so one pointer walks
    # the edits for the starts; an end lies at most a few edits further.
    count = len(edits)
    index = 0  # edits[:index] start at or before the current start
    for start, _, end, obs_type, value in found.found:
        key = (obs_type, value)
        if key in seen:
            continue
        seen.add(key)
        if count:
            while index < count and edits[index].start <= start:
                index += 1
            after = index
            while after < count and edits[after].start < end:
                after += 1
            if index:
                edit = edits[index - 1]
                start = edit.orig_start if start < edit.end else start - edit.end + edit.orig_end
            if after:
                edit = edits[after - 1]
                end = edit.orig_end if end <= edit.end else end - edit.end + edit.orig_end
        results.append(Extracted(obs_type, value, text[start:end], start, end))
    return results
