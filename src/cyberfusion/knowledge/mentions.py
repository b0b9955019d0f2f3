"""Malware families and threat actors named in free text, as the reference knowledge spells them.

A report or an e-mail says "the Emotet loader", "APT28", "Agent Tesla": those names should meet
the family the knowledge holds, as tags and STIX objects already do. Matching every alias of
13,000 galaxy clusters against prose would be noisy, because many families are named after
ordinary words ("Flame", "Havoc", "Christmas", "Milan"). So a name counts where it is written
as the knowledge writes it (case included) and it is distinctive:

- a name of several words ("Agent Tesla", "Fancy Bear"), or one with a digit ("APT28",
  "FIN7"), or with a capital inside the word ("QakBot", "PlugX"), counts wherever it stands;
- a single capitalised word ("Emotet", "Flame") counts only in a sentence that also says what
  it is (malware, ransomware, loader, botnet, actor, group, campaign, ...).

Names shorter than four characters never count. What a name resolves to (and whether it is
ambiguous) is the knowledge service's business; this module only finds the names.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.knowledge.models import KnowledgeAlias, KnowledgeEntry, KnowledgeKind

MIN_LENGTH = 4
MAX_WORDS = 4
KINDS = (KnowledgeKind.MALWARE.value, KnowledgeKind.THREAT_ACTOR.value)
# Words that say a sentence is about a family or an actor (matched whole, any case).
_CUE_WORDS = (
    "malware", "ransomware", "trojan", "rat", "botnet", "loader", "stealer", "infostealer",
    "backdoor", "spyware", "worm", "dropper", "banker", "implant", "family", "variant",
    "strain", "payload", "group", "actor", "actors", "apt", "gang", "campaign", "operators",
    "operator", "affiliate", "affiliates", "crew", "threat",
)  # fmt: skip
CUES = frozenset(_CUE_WORDS)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*(?:[.\-][A-Za-z0-9_]+)*")
_SENTENCE_END = re.compile(r"[.!?]\s|\n\s*\n|\n[-*•]")


@dataclass(frozen=True)
class Mention:
    kind: str  # a KnowledgeKind value: malware or threat-actor
    name: str  # as the text writes it
    start: int  # offset in the text


def distinctive(name: str) -> bool:
    """A name that counts wherever it stands (see the module's rules)."""
    return (
        " " in name.strip()
        or any(char.isdigit() for char in name)
        or any(char.isupper() for char in name[1:])
    )


def countable(name: str) -> bool:
    """A name worth looking for at all: long enough, and capitalised or with a digit."""
    text = name.strip()
    return (
        len(text) >= MIN_LENGTH
        and len(text.split()) <= MAX_WORDS
        and (text[0].isupper() or any(char.isdigit() for char in text))
    )


class NameIndex:
    """Exact names (as the galaxies write them) to the kinds they name."""

    def __init__(self, names: Iterable[tuple[str, str]]) -> None:
        self.kinds: dict[str, set[str]] = {}
        for name, kind in names:
            text = " ".join(name.split())
            if countable(text):
                self.kinds.setdefault(text, set()).add(kind)
        self.longest = max((len(name.split()) for name in self.kinds), default=0)

    def find(self, text: str) -> list[Mention]:
        """Names in `text`, longest first where they overlap, each once per place."""
        words = list(_WORD.finditer(text))
        sentence_of = _sentences(text)
        cued = {sentence_of(match.start()) for match in words if match.group().casefold() in CUES}
        found: list[Mention] = []
        index = 0
        while index < len(words):
            matched = 0
            for size in range(min(self.longest, len(words) - index), 0, -1):
                span = words[index : index + size]
                # The words must be separated by single spaces in the text, as in the name.
                if any(b.start() - a.end() != 1 for a, b in itertools.pairwise(span)):
                    continue
                name = " ".join(match.group() for match in span)
                kinds = self.kinds.get(name)
                if kinds is None:
                    continue
                if not distinctive(name) and sentence_of(span[0].start()) not in cued:
                    continue
                found.extend(Mention(kind, name, span[0].start()) for kind in sorted(kinds))
                matched = size
                break
            index += matched or 1
        return found


def _sentences(text: str) -> Callable[[int], int]:
    """offset -> the number of the sentence it falls in."""
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]

    def sentence_of(offset: int) -> int:
        low, high = 0, len(ends)
        while low < high:
            middle = (low + high) // 2
            if ends[middle] <= offset:
                low = middle + 1
            else:
                high = middle
        return low

    return sentence_of


def name_index(*, session: Session) -> NameIndex:
    """Every name of a malware family or threat actor the reference knowledge holds."""
    rows = session.execute(
        select(KnowledgeAlias.alias, KnowledgeEntry.kind)
        .join(KnowledgeEntry, KnowledgeEntry.id == KnowledgeAlias.entry_id)
        .where(KnowledgeEntry.kind.in_(KINDS))
    ).all()
    return NameIndex((str(alias), str(kind)) for alias, kind in rows)
