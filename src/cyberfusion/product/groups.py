"""The threat groups of Cyber Activity Reports: which words put a record in which group, and the
default text of each group's recommended-action template. Data, not code: one table.

A record's words are its STIX `labels` (CSV `threat_type` words and MISP tags land there),
`indicator_types`, `malware_types` and `report_types`. A MISP tag such as
`circl:incident-classification="phishing"` also counts by its quoted value. The first group in
`GROUPS` with a matching word wins; a record with no matching word is in `other`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cyberfusion.observable.types import ObservableType


@dataclass(frozen=True)
class ThreatGroup:
    key: str
    title: str
    words: frozenset[str]
    why_it_matters: str
    actions: tuple[str, ...]


def _group(
    key: str, title: str, words: Iterable[str], why: str, actions: Iterable[str]
) -> ThreatGroup:
    return ThreatGroup(key, title, frozenset(words), why, tuple(actions))


GROUPS: tuple[ThreatGroup, ...] = (
    _group(
        "botnet-c2",
        "Botnet command-and-control servers",
        (
            "c2", "cnc", "c&c", "command-and-control", "botnet", "botnet-c2", "bot-c2",
            "botnet-cc", "rat", "backdoor", "c2-server",
        ),
        "Command-and-control servers direct networks of infected computers: they steal data, "
        "send spam, launch DDoS attacks and deliver ransomware. Taking one down cuts off every "
        "victim device it controls.",
        (
            "Ask the hosting provider (abuse contact of the network below) to suspend the server "
            "and preserve its data for judicial use.",
            "Seek a preservation order on the server and its logs; the logs identify victims "
            "and operators.",
            "Share the addresses with the national CERT so networks can block them.",
            "Report the outcome per indicator in the feedback of this report.",
        ),
    ),
    _group(
        "phishing",
        "Phishing sites",
        (
            "phishing", "phish", "credential-phishing", "credential-harvesting", "smishing",
            "vishing", "spear-phishing", "phishing-kit",
        ),
        "Phishing sites impersonate banks, shops and public services to steal credentials and "
        "payment data from citizens; every day online means more victims.",
        (
            "Ask the registrar and the hosting provider to take the site down.",
            "Warn the impersonated organisation so it can alert its customers.",
            "Share the URLs with the national CERT and browser blocklists.",
            "Report the outcome per indicator in the feedback of this report.",
        ),
    ),
    _group(
        "malware-distribution",
        "Malware distribution",
        (
            "malware-download", "payload-delivery", "payload", "dropper", "loader",
            "exploit-kit", "exploit", "malware-distribution", "ransomware", "stealer",
            "infostealer", "trojan", "malware",
        ),
        "These addresses serve malicious software to victims' devices: ransomware, "
        "information stealers and loaders that open the door to further crime.",
        (
            "Ask the hosting provider to remove the files and suspend the account behind them.",
            "Preserve copies of the files and server logs as evidence.",
            "Share the indicators with the national CERT for blocking and victim notification.",
            "Report the outcome per indicator in the feedback of this report.",
        ),
    ),
    _group(
        "compromised-websites",
        "Compromised websites",
        ("compromised", "hacked", "defaced", "skimmer", "magecart", "web-skimming", "webshell"),
        "Legitimate websites in your country have been broken into and are abused to attack "
        "their visitors (card skimming, malware, phishing). Their owners are victims too and "
        "often do not know.",
        (
            "Notify the site owners (directly or through the national CERT) so they clean and "
            "secure the site.",
            "Ask for logs that show how and by whom the site was compromised.",
            "Report the outcome per indicator in the feedback of this report.",
        ),
    ),
    _group(
        "victim-ips",
        "Infected or victim systems",
        ("victim", "infected", "sinkhole", "drone", "bot", "infected-host", "victim-ip"),
        "These addresses belong to computers in your country that are infected or were "
        "attacked. Their users are victims and may not know; the devices can be abused "
        "against others.",
        (
            "Pass the addresses to the national CERT to notify the network operators and users.",
            "Check whether the victims are critical infrastructure or public bodies.",
            "Report the outcome per indicator in the feedback of this report.",
        ),
    ),
    _group(
        "scam-infrastructure",
        "Scam infrastructure",
        (
            "scam", "fraud", "money-mule", "mule", "bec", "business-email-compromise",
            "extortion", "sextortion", "fake-shop", "investment-fraud", "romance-scam",
            "tech-support-scam", "advance-fee-fraud",
        ),
        "Sites, phone numbers, wallets and accounts used to defraud citizens and companies; "
        "stopping them early prevents losses and can freeze proceeds.",
        (
            "Open or join an investigation: these selectors link victims to offenders.",
            "Ask banks and payment services to freeze accounts and wallets where the law allows.",
            "Ask registrars, hosts and telecom operators to suspend domains and numbers.",
            "Report the outcome per indicator in the feedback of this report.",
        ),
    ),
    _group(
        "other",
        "Other malicious activity",
        (),
        "Other malicious infrastructure attributed to your country by the fusion centre.",
        (
            "Review the indicators and decide on national action.",
            "Report the outcome per indicator in the feedback of this report.",
        ),
    ),
)  # fmt: skip

GROUP_KEYS = tuple(group.key for group in GROUPS)
_BY_KEY = {group.key: group for group in GROUPS}
_IP_TYPES = frozenset({ObservableType.IPV4.value, ObservableType.IPV6.value})
_SEPARATORS = re.compile(r"[\s_]+")
_QUOTED = re.compile(r'="([^"]*)"')


def get(key: str) -> ThreatGroup:
    return _BY_KEY[key]


def _words(content: dict[str, Any]) -> list[str]:
    raw: list[str] = []
    for prop in ("labels", "indicator_types", "malware_types", "report_types"):
        values = content.get(prop)
        if isinstance(values, list):
            raw.extend(v for v in values if isinstance(v, str))
    words: list[str] = []
    for value in raw:
        words.append(_SEPARATORS.sub("-", value.strip().lower()))
        quoted = _QUOTED.search(value)
        if quoted:
            words.append(_SEPARATORS.sub("-", quoted.group(1).strip().lower()))
    return words


def classify(content: dict[str, Any], obs_type: str) -> str:
    """The group of one observable as one record reported it."""
    words = set(_words(content))
    for group in GROUPS:
        if words & group.words:
            # A compromised address is a victim system; a compromised name or URL a website.
            if group.key == "compromised-websites" and obs_type in _IP_TYPES:
                return "victim-ips"
            return group.key
    return "other"
