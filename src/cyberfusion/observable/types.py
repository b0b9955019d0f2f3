"""The observable types and how each maps to STIX 2.1 (SCO type and pattern object path)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ObservableType(enum.StrEnum):
    IPV4 = "ipv4-addr"  # a single address or a CIDR block ("203.0.113.0/24")
    IPV6 = "ipv6-addr"
    DOMAIN = "domain-name"
    URL = "url"
    EMAIL = "email-addr"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    SHA512 = "sha512"
    CVE = "cve"
    BTC = "btc-address"
    ETH = "eth-address"
    XMR = "xmr-address"
    PHONE = "phone-number"
    IBAN = "iban"
    ASN = "autonomous-system"


@dataclass(frozen=True)
class StixMapping:
    """Where an observable lives in STIX: the SCO (or SDO) type and the pattern object path."""

    sco_type: str
    object_path: str  # e.g. "ipv4-addr:value", "file:hashes.'SHA-256'"


STIX_MAPPING: dict[ObservableType, StixMapping] = {
    ObservableType.IPV4: StixMapping("ipv4-addr", "ipv4-addr:value"),
    ObservableType.IPV6: StixMapping("ipv6-addr", "ipv6-addr:value"),
    ObservableType.DOMAIN: StixMapping("domain-name", "domain-name:value"),
    ObservableType.URL: StixMapping("url", "url:value"),
    ObservableType.EMAIL: StixMapping("email-addr", "email-addr:value"),
    ObservableType.MD5: StixMapping("file", "file:hashes.MD5"),
    ObservableType.SHA1: StixMapping("file", "file:hashes.'SHA-1'"),
    ObservableType.SHA256: StixMapping("file", "file:hashes.'SHA-256'"),
    ObservableType.SHA512: StixMapping("file", "file:hashes.'SHA-512'"),
    ObservableType.CVE: StixMapping("vulnerability", "vulnerability:name"),
    # No STIX 2.1 SCO exists for these; custom SCOs named as the OASIS extensions propose.
    ObservableType.BTC: StixMapping("x-cryptocurrency-wallet", "x-cryptocurrency-wallet:value"),
    ObservableType.ETH: StixMapping("x-cryptocurrency-wallet", "x-cryptocurrency-wallet:value"),
    ObservableType.XMR: StixMapping("x-cryptocurrency-wallet", "x-cryptocurrency-wallet:value"),
    ObservableType.PHONE: StixMapping("x-phone-number", "x-phone-number:value"),
    ObservableType.IBAN: StixMapping("x-bank-account", "x-bank-account:iban"),
    ObservableType.ASN: StixMapping("autonomous-system", "autonomous-system:number"),
}
