"""Builders for reference knowledge: a few galaxy clusters shaped as the shipped files."""

from __future__ import annotations

from typing import Any

# A handful of clusters shaped as the shipped galaxy files, with the cross-galaxy overlaps the
# real data has: one family in three galaxies, a MITRE name with its ATT&CK id, an actor alias
# shared by two actors, a name that is both a malware and an actor, and a tool that the "tool"
# galaxy lists as malware.
GALAXIES: dict[str, dict[str, Any]] = {
    "malpedia": {
        "values": [
            {
                "uuid": "b88e29cf-79d9-42bc-b369-0383b5e04380",
                "value": "Agent Tesla",
                "description": "A .NET based information stealer.",
                "meta": {"synonyms": ["AgenTesla", "AgentTesla", "Negasteal"]},
            },
            {
                "uuid": "6fc28a4c-3b6a-4ac1-9a2f-1d4f4b1f8e01",
                "value": "Emotet",
                "meta": {"synonyms": ["Geodo", "Heodo"]},
            },
            {"uuid": "31bd11ff-2a2d-4e83-8266-3819aadd0690", "value": "Nitro"},
        ]
    },
    "tool": {
        "values": [
            {"uuid": "f8cd62cb-b9d3-4352-8f46-0961cfde104c", "value": "Agent Tesla"},
            {
                "uuid": "7f3a035d-d83a-45b8-8111-412aa8ade802",
                "value": "Mimikatz",
                "meta": {"synonyms": ["Mikatz"]},
            },
        ]
    },
    "mitre-malware": {
        "values": [
            {
                "uuid": "e7a5229f-05eb-440e-b982-9a6d2b2b87c8",
                "value": "Agent Tesla - S0331",
                "description": "Agent Tesla is a spyware Trojan.",
                "meta": {"external_id": "S0331", "synonyms": ["Agent Tesla"]},
            }
        ]
    },
    "mitre-tool": {
        "values": [
            {
                "uuid": "afc079f3-c0ea-4096-b75d-3f05338b7f60",
                "value": "Mimikatz - S0002",
                "meta": {"external_id": "S0002", "synonyms": ["Mimikatz"]},
            }
        ]
    },
    "threat-actor": {
        "values": [
            {
                "uuid": "5b4ee3ea-eee3-4c8e-8323-85ae32658754",
                "value": "APT28",
                "description": "The Sofacy Group.",
                "meta": {"synonyms": ["Fancy Bear", "Sofacy", "Grizzly Steppe", "Tsar Team"]},
            },
            {
                "uuid": "b2056ff0-00b9-482e-b11c-c771daa5f28a",
                "value": "APT29",
                "meta": {"synonyms": ["Cozy Bear", "Grizzly Steppe"]},
            },
            {"uuid": "ece98957-c677-4c63-b627-067dd6a11047", "value": "Nitro"},
        ]
    },
    "mitre-intrusion-set": {
        "values": [
            {
                "uuid": "bef4c620-0787-42a8-a96d-b7eb6e85917c",
                "value": "APT28 - G0007",
                "meta": {"external_id": "G0007", "synonyms": ["APT28", "Fancy Bear", "Sednit"]},
            }
        ]
    },
    "mitre-attack-pattern": {
        "values": [
            {
                "uuid": "a62a8db3-f23a-4d8f-afd6-9dbc77e7813b",
                "value": "Phishing - T1566",
                "meta": {"external_id": "T1566"},
            }
        ]
    },
}
