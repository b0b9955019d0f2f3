"""STIX patterns: a fast validity check, observable extraction and pattern building.

Nearly every real indicator pattern is `[<object-path> = '<value>']` or an AND/OR chain of
such comparisons. `check_pattern` accepts those shapes with a hand-written scanner that is a
strict subset of the STIX 2.1 pattern grammar; anything else (qualifiers, FOLLOWEDBY,
parentheses, other operators, comments, unusual whitespace) goes to the ANTLR validator of the
`stix2-patterns` package, so both paths always give the same verdict. The scanner also
repeats the one semantic check the ANTLR validator makes on such shapes: a hash compared
through a `hashes` path must look like a hash of the named algorithm.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from cyberfusion.observable.types import STIX_MAPPING, ObservableType

# Keywords of the STIX 2.1 pattern lexer. The lexer prefers a keyword over an identifier of the
# same length, so an object type or property spelled like one is a syntax error: the scanner
# leaves those to ANTLR.
_KEYWORDS: Final = (
    "AND|OR|NOT|FOLLOWEDBY|LIKE|MATCHES|ISSUPERSET|ISSUBSET|EXISTS|LAST|IN|START|STOP|SECONDS"
    "|true|false|WITHIN|REPEATS|TIMES"
)
_NOT_KEYWORD: Final = rf"(?!(?:{_KEYWORDS})(?![A-Za-z0-9_-]))"
# IdentifierWithHyphen: allowed as the object type only.
_TYPE: Final = rf"{_NOT_KEYWORD}[A-Za-z_][A-Za-z0-9_-]*"
# IdentifierWithoutHyphen; the look-ahead refuses a prefix the lexer would extend with a hyphen.
_IDENT: Final = rf"{_NOT_KEYWORD}[A-Za-z_][A-Za-z0-9_]*(?![A-Za-z0-9_-])"
_STRING: Final = r"'(?:[^'\\]|\\['\\])*'"
_STEP: Final = rf"\.(?:{_IDENT}|{_STRING})|\[(?:\*|0|[1-9][0-9]*)\]"
# IntPosLiteral without a sign; what may follow it is checked by the scanner (space, AND/OR, "]").
_INT: Final = r"(?:0|[1-9][0-9]*)(?![0-9.])"
_COMPARISON: Final = re.compile(
    rf"({_TYPE}):((?:{_IDENT}|{_STRING})(?:{_STEP})*)[ \t\r\n]*==?[ \t\r\n]*({_STRING}|{_INT})"
)
# The shape nearly every indicator has, `[<type>:<property> = '<value>']` (the property may be
# `hashes.<algorithm>`), in one regular expression: a strict subset of what `_fast_accepts`
# scans for, tried first because one match costs less than the scanner's steps.
_ONE_COMPARISON: Final = re.compile(
    rf"\[{_TYPE}:({_IDENT}(?:\.(?:{_IDENT}|{_STRING}))?) = ({_STRING})\]"
)
_PATH_PART: Final = re.compile(rf"({_IDENT})|({_STRING})|\[(\*|[0-9]+)\]")
_WS: Final = re.compile(r"[ \t\r\n]*")
_INNER_BOOL: Final = re.compile(r"[ \t\r\n]+(?:AND|OR)[ \t\r\n]+")
_OUTER_BOOL: Final = re.compile(r"[ \t\r\n]*(?:AND|OR)[ \t\r\n]*(?=\[)")
_UNESCAPE: Final = re.compile(r"\\(['\\])")

# The hash formats the ANTLR validator enforces (stix2patterns' object_validator), keyed by the
# algorithm name upper-cased without hyphens or quotes. Applied with `re.match`, as it does, so
# the verdicts agree to the character. MD6 is left out on purpose: its upstream expression is
# malformed, and MD6 patterns therefore always take the ANTLR path.
_HASH_FORMATS: Final = {
    "MD5": re.compile(r"^[a-fA-F0-9]{32}$"),
    "RIPEMD160": re.compile(r"^[a-fA-F0-9]{40}$"),
    "SHA1": re.compile(r"^[a-fA-F0-9]{40}$"),
    "SHA224": re.compile(r"^[a-fA-F0-9]{56}$"),
    "SHA256": re.compile(r"^[a-fA-F0-9]{64}$"),
    "SHA384": re.compile(r"^[a-fA-F0-9]{96}$"),
    "SHA512": re.compile(r"^[a-fA-F0-9]{128}$"),
    "SHA3224": re.compile(r"^[a-fA-F0-9]{56}$"),
    "SHA3256": re.compile(r"^[a-fA-F0-9]{64}$"),
    "SHA3384": re.compile(r"^[a-fA-F0-9]{96}$"),
    "SHA3512": re.compile(r"^[a-fA-F0-9]{128}$"),
    "SSDEEP": re.compile(r"^[a-zA-Z0-9/+:.]{1,128}$"),
    "WHIRLPOOL": re.compile(r"^[a-fA-F0-9]{128}$"),
}

PathPart = str | int | None  # None stands for the `[*]` index step


def _unescape(literal: str) -> str:
    """The text of a quoted pattern string literal (quotes included in `literal`)."""
    return _UNESCAPE.sub(r"\1", literal[1:-1])


def _escape(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _path_parts(path: str) -> list[PathPart]:
    parts: list[PathPart] = []
    for ident, string, index in _PATH_PART.findall(path):
        if ident:
            parts.append(ident)
        elif string:
            parts.append(_unescape(string))
        else:
            parts.append(None if index == "*" else int(index))
    return parts


def _skip_ws(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    return pos if match is None else match.end()


def _fast_accepts(pattern: str) -> bool:
    """True when `pattern` is an AND/OR chain of `path = 'string'` (or integer) tests.

    False means "not decided here", never "invalid".
    """
    pos = _skip_ws(pattern, 0)
    while True:
        if not pattern.startswith("[", pos):
            return False
        pos = _skip_ws(pattern, pos + 1)
        while True:
            comparison = _COMPARISON.match(pattern, pos)
            if comparison is None or not _hash_value_ok(comparison.group(2), comparison.group(3)):
                return False
            pos = comparison.end()
            joiner = _INNER_BOOL.match(pattern, pos)
            if joiner is None:
                break
            pos = joiner.end()
        pos = _skip_ws(pattern, pos)
        if not pattern.startswith("]", pos):
            return False
        pos += 1
        joiner = _OUTER_BOOL.match(pattern, pos)
        if joiner is None:
            break
        pos = joiner.end()
    return _skip_ws(pattern, pos) == len(pattern)


def _hash_value_ok(path: str, literal: str) -> bool:
    """The ANTLR validator's hash check, reproduced; False also when it would not apply cleanly."""
    if "hashes" not in path:
        return True
    parts = _path_parts(path)
    if "hashes" not in parts:
        return True
    selector = parts[-1]
    if selector is None:
        return True
    if isinstance(selector, int):
        # stix2patterns crashes on an index after `hashes`; let the slow path report it.
        return False
    algorithm = selector.upper().replace("-", "").replace("'", "")
    if algorithm == "MD6":
        return False
    expected = _HASH_FORMATS.get(algorithm)
    return expected is None or expected.match(literal.replace("'", "")) is not None


def check_pattern(pattern: str, *, stix_version: str = "2.1") -> str | None:
    """None if `pattern` is a valid STIX pattern of `stix_version` ("2.1" or "2.0"), else why."""
    if not isinstance(pattern, str):
        return f"pattern must be a string, not {type(pattern).__name__}"
    if stix_version == "2.1":
        single = _ONE_COMPARISON.fullmatch(pattern)
        if single is not None and _hash_value_ok(single.group(1), single.group(2)):
            return None
        if _fast_accepts(pattern):
            return None
    from stix2patterns.validator import run_validator  # type: ignore[import-untyped]

    try:
        errors = run_validator(pattern, stix_version)
    except Exception as exc:  # the ANTLR validator has crashing corner cases, e.g. hashes[0]
        return f"pattern could not be checked: {type(exc).__name__}: {exc}"
    if not errors:
        return None
    return "; ".join(str(error).removeprefix("FAIL: ") for error in errors)


# ---------------------------------------------------------------------------------------------
# Observables


def _hash_key(name: str) -> str:
    return name.upper().replace("-", "")


def _mapping_key(object_type: str, parts: list[PathPart]) -> tuple[str, tuple[PathPart, ...]]:
    if len(parts) == 2 and parts[0] == "hashes" and isinstance(parts[1], str):
        return object_type, ("hashes", _hash_key(parts[1]))
    return object_type, tuple(parts)


def _build_path_index() -> dict[tuple[str, tuple[PathPart, ...]], list[ObservableType]]:
    index: dict[tuple[str, tuple[PathPart, ...]], list[ObservableType]] = {}
    for obs_type, mapping in STIX_MAPPING.items():
        object_type, _, path = mapping.object_path.partition(":")
        parts = _path_parts(path)
        index.setdefault(_mapping_key(object_type, parts), []).append(obs_type)
    return index


_PATH_INDEX: Final = _build_path_index()

# Several wallet types share one object path; the address shape tells them apart.
_WALLET_SHAPES: Final = {
    ObservableType.BTC: re.compile(
        r"[13][1-9A-HJ-NP-Za-km-z]{25,34}|bc1[02-9ac-hj-np-z]{6,87}|BC1[02-9AC-HJ-NP-Z]{6,87}"
    ),
    ObservableType.ETH: re.compile(r"0[xX][0-9a-fA-F]{40}"),
    ObservableType.XMR: re.compile(r"[48][1-9A-HJ-NP-Za-km-z]{94}|4[1-9A-HJ-NP-Za-km-z]{105}"),
}
_INTEGER: Final = re.compile(r"0|[1-9][0-9]*")


def _pick_type(candidates: list[ObservableType], value: str) -> ObservableType | None:
    if len(candidates) == 1:
        return candidates[0]
    for obs_type in candidates:
        shape = _WALLET_SHAPES.get(obs_type)
        if shape is not None and shape.fullmatch(value):
            return obs_type
    return None


_TOKEN: Final = re.compile(
    r"""
    (?P<ws>[ \t\r\n\x0b\x0c\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+)
    |(?P<comment>/\*.*?\*/|//[^\r\n]*)
    |(?P<prefixed>[thb]'(?:[^'\\]|\\['\\])*')
    |(?P<string>'(?:[^'\\]|\\['\\])*')
    |(?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    |(?P<number>[+-]?(?:[0-9]*\.[0-9]+|[0-9]+))
    |(?P<op>==|!=|<>|<=|>=|=|<|>)
    |(?P<punct>[:.\[\](),*^/%+-])
    """,
    re.VERBOSE | re.DOTALL,
)


def _tokens(pattern: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(pattern):
        match = _TOKEN.match(pattern, pos)
        if match is None:
            raise ValueError(
                f"cannot read the pattern at character {pos}: {pattern[pos : pos + 20]!r}"
            )
        kind = match.lastgroup
        assert kind is not None
        if kind not in ("ws", "comment"):
            tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


def _comparisons(pattern: str) -> Iterator[tuple[str, list[PathPart], str, str, str]]:
    """(object type, path, operator, literal kind, literal text) for every `path op literal`.

    The operator is prefixed with "NOT " when negated. Only equality and order operators are
    reported; set, LIKE and MATCHES tests are skipped.
    """
    tokens = _tokens(pattern)
    count = len(tokens)
    i = 0
    while i < count - 2:
        kind, text = tokens[i]
        if not (kind == "ident" and tokens[i + 1] == ("punct", ":")):
            i += 1
            continue
        object_type = text
        i += 2
        parts: list[PathPart] = []
        first = True
        while i < count:
            kind, text = tokens[i]
            if first and kind in ("ident", "string"):
                parts.append(text if kind == "ident" else _unescape(text))
                first = False
                i += 1
            elif text == "." and i + 1 < count and tokens[i + 1][0] in ("ident", "string"):
                step_kind, step = tokens[i + 1]
                parts.append(step if step_kind == "ident" else _unescape(step))
                i += 2
            elif text == "[" and i + 2 < count and tokens[i + 2][1] == "]":
                index = tokens[i + 1][1]
                parts.append(None if index == "*" else int(index))
                i += 3
            else:
                break
        negated = i < count and tokens[i] == ("ident", "NOT")
        if negated:
            i += 1
        if i + 1 < count and tokens[i][0] == "op":
            operator = ("NOT " if negated else "") + tokens[i][1]
            literal_kind, literal = tokens[i + 1]
            yield object_type, parts, operator, literal_kind, literal
            i += 2


def observables_in(pattern: str) -> list[tuple[ObservableType, str]]:
    """The (type, raw value) of each equality test in `pattern` on a path we map to an observable.

    `pattern` should have passed `check_pattern`. Values come back unescaped and otherwise as
    written (normalisation is the observable module's job), in pattern order, duplicates kept.
    Hash paths match in any spelling: `hashes.MD5`, `hashes.'MD5'`, `hashes.'SHA-256'`,
    `hashes.SHA256`. A wallet address whose shape fits no known currency is skipped, as the
    shared `x-cryptocurrency-wallet:value` path alone cannot say which currency it is.
    Raises ValueError on text that is not a pattern at all.
    """
    found: list[tuple[ObservableType, str]] = []
    for object_type, parts, operator, literal_kind, literal in _comparisons(pattern):
        if operator not in ("=", "=="):
            continue
        candidates = _PATH_INDEX.get(_mapping_key(object_type, parts))
        if candidates is None:
            continue
        if literal_kind == "string":
            value = _unescape(literal)
        elif literal_kind == "number" and candidates == [ObservableType.ASN]:
            value = literal.removeprefix("+")
        else:
            continue
        obs_type = _pick_type(candidates, value)
        if obs_type is not None:
            found.append((obs_type, value))
    return found


def pattern_for(obs_type: ObservableType, value: str) -> str:
    """The pattern `[<object-path> = '<value>']` matching one observable.

    Autonomous-system numbers are compared as integers (`[autonomous-system:number = 64500]`),
    as the property is an integer; the canonical "AS64500" is accepted too (observables_in then
    reads back "64500"). Raises ValueError for an ASN that is not a decimal number and for a
    wallet address whose shape does not match `obs_type` (it could not be read back).
    """
    object_path = STIX_MAPPING[obs_type].object_path
    if obs_type is ObservableType.ASN:
        number = value[2:] if value[:2] in ("AS", "as", "As", "aS") else value
        if not _INTEGER.fullmatch(number):
            raise ValueError(f"autonomous-system number {value!r} is not a decimal integer")
        return f"[{object_path} = {number}]"
    shape = _WALLET_SHAPES.get(obs_type)
    if shape is not None and not shape.fullmatch(value):
        raise ValueError(f"{value!r} does not have the shape of a {obs_type.value}")
    return f"[{object_path} = {_escape(value)}]"
