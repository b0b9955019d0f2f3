"""Reference knowledge: load the MISP galaxies shipped by pymispgalaxies as hub-owned TLP:CLEAR STIX
objects, keep their names in an alias table, and resolve any name to its family.

The SDO ids follow the rule the MISP parser uses for galaxy clusters, `stable_id(stix_type,
name.lower())`, so a galaxy tag in a MISP event and the knowledge base name the same object.
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.core.canonical import content_hash
from cyberfusion.core.errors import PermissionDenied, ValidationFailed
from cyberfusion.core.time import utcnow
from cyberfusion.intake.misp import GALAXY_SDO_TYPES
from cyberfusion.intake.parsed import stable_id, stix_timestamp
from cyberfusion.intel.models import IntelObject
from cyberfusion.knowledge.models import KnowledgeAlias, KnowledgeEntry, KnowledgeKind
from cyberfusion.knowledge.schemas import KnowledgeEntryRead, KnowledgeSourceRead
from cyberfusion.registry import service as registry_service
from cyberfusion.sharing.models import Audience, Tlp

HUB_SLUG = "hub"

# The STIX SDO type each kind is stored as (from GALAXY_SDO_TYPES), and back.
KIND_OF_STIX_TYPE: dict[str, KnowledgeKind] = {
    "malware": KnowledgeKind.MALWARE,
    "threat-actor": KnowledgeKind.THREAT_ACTOR,
    "intrusion-set": KnowledgeKind.THREAT_ACTOR,
    "tool": KnowledgeKind.TOOL,
    "attack-pattern": KnowledgeKind.ATTACK_PATTERN,
}

# Within one kind, which galaxy names a family first (lower wins). Malpedia and MISP's
# threat-actor galaxy carry the most aliases; MITRE's galaxies come after them because their
# cluster names carry the ATT&CK id ("Agent Tesla - S0331"), and a family is named without it.
GALAXY_RANK: dict[str, int] = {
    "malpedia": 0,
    "ransomware": 1,
    "banker": 2,
    "stealer": 3,
    "rat": 4,
    "botnet": 5,
    "backdoor": 6,
    "android": 7,
    "exploit-kit": 8,
    "tool": 9,
    "mitre-malware": 10,
    "threat-actor": 0,
    "mitre-intrusion-set": 1,
    "mitre-tool": 0,
    "mitre-attack-pattern": 0,
    "mitre-enterprise-attack-attack-pattern": 1,
    "mitre-mobile-attack-attack-pattern": 2,
    "mitre-pre-attack-attack-pattern": 3,
}
_UNRANKED = 100

# Loaded by default, when the package ships them: about 9,600 clusters, loaded in about 5 s
# on the reference machine (docs/knowledge.md has the figures).
DEFAULT_GALAXIES: tuple[str, ...] = (
    "malpedia",
    "threat-actor",
    "ransomware",
    "tool",
    "banker",
    "rat",
    "botnet",
    "stealer",
    "backdoor",
    "exploit-kit",
    "mitre-malware",
    "mitre-intrusion-set",
    "mitre-tool",
    "mitre-attack-pattern",
)

# MITRE galaxies name software and groups "<name> - <ATT&CK id>"; the family is <name>.
# Attack patterns keep the id: the same technique name exists in several matrices.
_MITRE_SUFFIX = re.compile(r"\s+-\s+(?P<id>[GS]\d{4})$")
_MITRE_SUFFIX_GALAXIES = frozenset({"mitre-malware", "mitre-intrusion-set", "mitre-tool"})
_ATTACK_ID = re.compile(r"\s-\s(?P<id>T\d{4}(?:\.\d{3})?)$")
# What alias_key folds away: white space, hyphens and dashes, underscores, dots.
_FOLDED = re.compile(r"[\s\-_.\u2010-\u2015\u2212]+")
_MAX_NAME = 255
_CHUNK = 500
_ONE_MS = timedelta(milliseconds=1)

SdoResolver = Callable[[str, str], str | None]


# -- names -----------------------------------------------------------------------------------


def alias_key(name: str) -> str:
    """The key a name is stored and looked up under: case, diacritics, white space, hyphens,
    underscores and dots folded ("AgentTesla", "agent tesla", "Agent-Tesla" -> "agenttesla")."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _FOLDED.sub("", stripped.casefold())


def kind_of(kind: str) -> KnowledgeKind:
    """A knowledge kind from its name or from the STIX type it is stored as."""
    if kind in KIND_OF_STIX_TYPE:
        return KIND_OF_STIX_TYPE[kind]
    try:
        return KnowledgeKind(kind)
    except ValueError:
        allowed = ", ".join(sorted({*KnowledgeKind, *KIND_OF_STIX_TYPE}))
        raise ValidationFailed(f"unknown kind {kind!r} (one of {allowed})", field="kind") from None


def canonical_name(*, galaxy: str, value: str) -> str:
    """The family name of a cluster: its value, less MITRE's ATT&CK id suffix."""
    value = value.strip()
    if galaxy in _MITRE_SUFFIX_GALAXIES:
        return _MITRE_SUFFIX.sub("", value)
    return value


# -- the shipped galaxies --------------------------------------------------------------------


def _clusters_dir() -> Path:
    # The data sits beside the package; importing pymispgalaxies itself would cost 2.5 s
    # (it pulls in jsonschema) for files we read as plain JSON.
    spec = importlib.util.find_spec("pymispgalaxies")
    if spec is None or not spec.submodule_search_locations:
        raise ValidationFailed(
            "pymispgalaxies is not installed: it ships the galaxies", field="galaxies"
        )
    return Path(next(iter(spec.submodule_search_locations)), "data", "misp-galaxy", "clusters")


def shipped_galaxies() -> list[str]:
    """The galaxies pymispgalaxies ships that become STIX objects here, by name."""
    names = {entry.name.removesuffix(".json") for entry in _clusters_dir().iterdir()}
    return sorted(names & set(GALAXY_SDO_TYPES))


def read_shipped_galaxy(galaxy: str) -> dict[str, Any]:
    """One galaxy's cluster file as pymispgalaxies ships it (read from disk, never fetched)."""
    if galaxy not in GALAXY_SDO_TYPES:
        known = ", ".join(sorted(GALAXY_SDO_TYPES))
        raise ValidationFailed(
            f"galaxy {galaxy!r} does not become STIX objects (one of {known})", field="galaxies"
        )
    path = _clusters_dir().joinpath(f"{galaxy}.json")
    if not path.is_file():
        raise ValidationFailed(
            f"galaxy {galaxy!r} is not shipped by the installed pymispgalaxies "
            f"(it ships {', '.join(shipped_galaxies())})",
            field="galaxies",
        )
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# -- loading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadProblem:
    """A cluster (or one of its names) that was not loaded, and why."""

    galaxy: str
    cluster: str
    field: str
    reason: str


@dataclass
class LoadReport:
    galaxies: list[str]
    clusters: int = 0
    entries_created: int = 0
    entries_updated: int = 0
    entries_removed: int = 0
    aliases: int = 0
    ambiguous_keys: int = 0
    objects_new: int = 0
    objects_changed: int = 0
    objects_unchanged: int = 0
    submission_id: int | None = None
    problems: list[LoadProblem] = field(default_factory=list)


@dataclass
class _Cluster:
    galaxy: str
    cluster_uuid: str
    value: str
    name: str
    kind: KnowledgeKind
    stix_type: str
    rank: int
    description: str | None
    external_id: str | None
    # Every distinct name in file order (name, value, synonyms): the SDO's aliases and the
    # alias table's rows.
    names: list[str]

    @property
    def aliases(self) -> dict[str, tuple[str, bool]]:
        """Alias text -> (its key, whether it spells the entry's own name)."""
        own = alias_key(self.name)
        return {text: (alias_key(text), alias_key(text) == own) for text in self.names}

    @property
    def stix_id(self) -> str:
        return stable_id(self.stix_type, self.name.lower())


def load_galaxies(
    *,
    session: Session,
    actor: Actor,
    galaxies: Sequence[str] | None = None,
    data: Mapping[str, Mapping[str, Any]] | None = None,
) -> LoadReport:
    """Load galaxies as hub-owned TLP:CLEAR public STIX objects and fill the alias tables.

    `data` maps galaxy names to cluster files shaped as MISP ships them (tests pass a few
    clusters); without it the galaxies named (default: DEFAULT_GALAXIES that are shipped) are
    read from pymispgalaxies. Loading again changes nothing unless the galaxies changed: only
    new and changed objects are submitted, changed ones as a new version.
    """
    actor.require(Permission.INTEL_OBJECT_SUBMIT)
    hub = registry_service.get_by_slug(session=session, slug=HUB_SLUG)
    if hub is None:
        raise ValidationFailed(
            f"there is no organisation {HUB_SLUG!r} to own the reference knowledge", field="org"
        )
    if actor.org_id != hub.id:
        acting = f"acts for {actor.org_slug!r}" if actor.org_slug else "acts for no organisation"
        raise PermissionDenied(
            f"the reference knowledge belongs to the organisation {HUB_SLUG!r}: load it acting "
            f"for {HUB_SLUG!r} (this actor {acting})"
        )
    if data is None:
        names = list(galaxies) if galaxies is not None else None
        available = shipped_galaxies()
        chosen = names if names is not None else [g for g in DEFAULT_GALAXIES if g in available]
        data = {galaxy: read_shipped_galaxy(galaxy) for galaxy in chosen}
    report = LoadReport(galaxies=list(data))
    clusters: list[_Cluster] = []
    for galaxy, cluster_file in data.items():
        clusters.extend(_parse_galaxy(galaxy, cluster_file, report.problems))
    report.clusters = len(clusters)

    touched = _sync_entries(session=session, galaxies=list(data), clusters=clusters, report=report)
    _assign_families(session)
    # Entries loaded earlier in this session were changed behind the ORM's back (bulk updates).
    for held in list(session.identity_map.values()):
        if isinstance(held, KnowledgeEntry):
            session.expire(held)
    _store_objects(
        session=session,
        actor=actor,
        hub_id=hub.id,
        contents=_sdo_contents(session, touched),
        report=report,
    )
    report.ambiguous_keys = _count_ambiguous(session)
    audit_service.record(
        session=session,
        actor=actor,
        action="knowledge.load",
        target_type="knowledge",
        target_id="misp-galaxies",
        details={
            "galaxies": report.galaxies,
            "clusters": report.clusters,
            "entries_created": report.entries_created,
            "entries_updated": report.entries_updated,
            "entries_removed": report.entries_removed,
            "objects_new": report.objects_new,
            "objects_changed": report.objects_changed,
            "submission_id": report.submission_id,
            "problems": len(report.problems),
        },
    )
    return report


def _parse_galaxy(
    galaxy: str, cluster_file: Mapping[str, Any], problems: list[LoadProblem]
) -> list[_Cluster]:
    stix_type = GALAXY_SDO_TYPES.get(galaxy)
    if stix_type is None:
        known = ", ".join(sorted(GALAXY_SDO_TYPES))
        raise ValidationFailed(
            f"galaxy {galaxy!r} does not become STIX objects (one of {known})", field="galaxies"
        )
    values = cluster_file.get("values")
    if not isinstance(values, list):
        raise ValidationFailed(
            f"galaxy {galaxy!r}: the cluster file has no `values` list", field="values"
        )
    kind = KIND_OF_STIX_TYPE[stix_type]
    parsed: list[_Cluster] = []
    for position, raw in enumerate(values, start=1):
        where = f"cluster {position}"
        if not isinstance(raw, dict):
            problems.append(LoadProblem(galaxy, where, "values", "not a JSON object"))
            continue
        value = raw.get("value")
        if not isinstance(value, str) or not value.strip():
            problems.append(LoadProblem(galaxy, where, "value", "the cluster has no value"))
            continue
        where = f"cluster {position} ({value.strip()})"
        try:
            cluster_uuid = str(uuid.UUID(str(raw.get("uuid"))))
        except ValueError:
            problems.append(
                LoadProblem(galaxy, where, "uuid", f"{raw.get('uuid')!r} is not a UUID")
            )
            continue
        name = canonical_name(galaxy=galaxy, value=value)
        if len(value.strip()) > _MAX_NAME or not alias_key(name):
            reason = (
                f"the value is longer than {_MAX_NAME} characters"
                if len(value.strip()) > _MAX_NAME
                else "the name has no letter or digit"
            )
            problems.append(LoadProblem(galaxy, where, "value", reason))
            continue
        raw_meta = raw.get("meta")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        raw_synonyms = meta.get("synonyms")
        synonyms: list[Any] = raw_synonyms if isinstance(raw_synonyms, list) else []
        names: list[str] = []
        for text in [name, value.strip(), *(s.strip() for s in synonyms if isinstance(s, str))]:
            if not alias_key(text):
                continue
            if len(text) > _MAX_NAME:
                problems.append(
                    LoadProblem(
                        galaxy, where, "synonyms", f"{text[:40]!r}... is over {_MAX_NAME} chars"
                    )
                )
                continue
            if text not in names:
                names.append(text)
        description = raw.get("description")
        parsed.append(
            _Cluster(
                galaxy=galaxy,
                cluster_uuid=cluster_uuid,
                value=value.strip(),
                name=name,
                kind=kind,
                stix_type=stix_type,
                rank=GALAXY_RANK.get(galaxy, _UNRANKED),
                description=description.strip()
                if isinstance(description, str) and description.strip()
                else None,
                external_id=_external_id(galaxy, value.strip(), meta),
                names=names,
            )
        )
    return parsed


def _external_id(galaxy: str, value: str, meta: Mapping[str, Any]) -> str | None:
    if not galaxy.startswith("mitre-"):
        return None
    raw = meta.get("external_id")
    if isinstance(raw, list) and raw and isinstance(raw[0], str):
        return raw[0]
    if isinstance(raw, str) and raw:
        return raw
    match = _MITRE_SUFFIX.search(value) or _ATTACK_ID.search(value)
    return match["id"] if match else None


def _sdo_contents(session: Session, stix_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The SDOs (without timestamps) of these ids, from the knowledge tables of every galaxy:
    clusters with the same type and name are one object, named by the preferred galaxy, with
    the aliases of all of them. Loading one galaxy therefore leaves the others' names on it."""
    wanted = sorted(set(stix_ids))
    # Plain rows: building ORM objects for ten thousand entries costs seconds.
    columns = (
        KnowledgeEntry.id,
        KnowledgeEntry.stix_id,
        KnowledgeEntry.rank,
        KnowledgeEntry.galaxy,
        KnowledgeEntry.cluster_uuid,
        KnowledgeEntry.name,
        KnowledgeEntry.value,
        KnowledgeEntry.description,
        KnowledgeEntry.external_id,
    )
    groups: dict[str, list[Row[int, str, int, str, str, str, str, str | None, str | None]]] = {}
    for start in range(0, len(wanted), _CHUNK):
        for entry in session.execute(
            select(*columns).where(KnowledgeEntry.stix_id.in_(wanted[start : start + _CHUNK]))
        ):
            groups.setdefault(entry.stix_id, []).append(entry)
    names: dict[int, list[str]] = {}
    entry_ids = sorted(entry.id for group in groups.values() for entry in group)
    for start in range(0, len(entry_ids), _CHUNK):
        for entry_id, alias in session.execute(
            select(KnowledgeAlias.entry_id, KnowledgeAlias.alias)
            .where(KnowledgeAlias.entry_id.in_(entry_ids[start : start + _CHUNK]))
            .order_by(KnowledgeAlias.id)
        ):
            names.setdefault(entry_id, []).append(alias)

    contents: dict[str, dict[str, Any]] = {}
    for stix_id in sorted(groups):
        group = sorted(groups[stix_id], key=lambda e: (e.rank, e.galaxy, e.cluster_uuid))
        first = group[0]
        content: dict[str, Any] = {
            "type": stix_id.split("--", 1)[0],
            "spec_version": "2.1",
            "id": stix_id,
            "name": first.name,
        }
        description = next((e.description for e in group if e.description), None)
        if description:
            content["description"] = description
        if content["type"] == "malware":
            content["is_family"] = True
        aliases = list(
            dict.fromkeys(
                alias for e in group for alias in names.get(e.id, []) if alias != first.name
            )
        )
        if aliases:
            content["aliases"] = aliases
        references: list[dict[str, str]] = [
            {"source_name": "mitre-attack", "external_id": external_id}
            for external_id in dict.fromkeys(e.external_id for e in group if e.external_id)
        ]
        references.extend(
            {
                "source_name": "misp-galaxy",
                "external_id": e.cluster_uuid,
                "description": f'misp-galaxy:{e.galaxy}="{e.value}"',
            }
            for e in group
        )
        content["external_references"] = references
        content["object_marking_refs"] = [Tlp.CLEAR.marking_definition_id]
        contents[stix_id] = content
    return contents


def _store_objects(
    *,
    session: Session,
    actor: Actor,
    hub_id: int,
    contents: Mapping[str, dict[str, Any]],
    report: LoadReport,
) -> None:
    """Submit the new and changed SDOs as one STIX bundle; unchanged ones are left alone."""
    from cyberfusion.intake import service as intake_service  # intake may call back here
    from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
    from cyberfusion.sharing.schemas import LabelsIn

    latest = _latest_versions(session, hub_id, list(contents))
    now = utcnow()
    objects: list[dict[str, Any]] = []
    for stix_id, content in contents.items():
        held = latest.get(stix_id)
        if held is None:
            stamp = stix_timestamp(now)
            objects.append({**content, "created": stamp, "modified": stamp})
            report.objects_new += 1
            continue
        modified, stored = held
        if _without_times(stored) == content:
            report.objects_unchanged += 1
            continue
        created = stored.get("created")
        version = stix_timestamp(max(now, modified + _ONE_MS))
        objects.append(
            {
                **content,
                "created": created if isinstance(created, str) else version,
                "modified": version,
            }
        )
        report.objects_changed += 1
    if not objects:
        return
    bundle = {
        "type": "bundle",
        "id": stable_id("bundle", "knowledge", content_hash(objects)),
        "objects": objects,
    }
    options = SubmissionOptions(
        source_format=SourceFormat.STIX,
        labels=LabelsIn(tlp=Tlp.CLEAR, audience=Audience.PUBLIC),
        partial=True,
    )
    result = intake_service.submit(
        session=session, actor=actor, raw=orjson.dumps(bundle), options=options
    )
    report.submission_id = result.id
    for item in result.results:
        if item.status == "rejected":
            content = contents.get(item.id or "", {})
            report.problems.append(
                LoadProblem(
                    galaxy="",
                    cluster=str(content.get("name", item.source)),
                    field=item.property or "",
                    reason=f"{item.id} was rejected: {item.reason}",
                )
            )


def _latest_versions(
    session: Session, hub_id: int, stix_ids: Sequence[str]
) -> dict[str, tuple[datetime, dict[str, Any]]]:
    latest: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for start in range(0, len(stix_ids), _CHUNK):
        rows = session.execute(
            select(IntelObject.stix_id, IntelObject.modified, IntelObject.content).where(
                IntelObject.owner_org_id == hub_id,
                IntelObject.stix_id.in_(stix_ids[start : start + _CHUNK]),
            )
        ).all()
        for stix_id, modified, content in rows:
            held = latest.get(stix_id)
            if held is None or modified > held[0]:
                latest[stix_id] = (modified, content)
    return latest


def _without_times(content: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in content.items() if k not in ("created", "modified")}


def _sync_entries(
    *, session: Session, galaxies: Sequence[str], clusters: Sequence[_Cluster], report: LoadReport
) -> set[str]:
    """Make the entries and aliases of these galaxies what the clusters say; return the STIX
    ids whose objects may have changed (those of the clusters, and those entries left)."""
    now = utcnow()
    fields = ("kind", "name", "value", "canonical_key", "rank", "description", "external_id")
    existing = {
        (entry.galaxy, entry.cluster_uuid): entry
        for entry in session.execute(
            select(
                KnowledgeEntry.id,
                KnowledgeEntry.galaxy,
                KnowledgeEntry.cluster_uuid,
                KnowledgeEntry.stix_id,
                *(getattr(KnowledgeEntry, name) for name in fields),
            ).where(KnowledgeEntry.galaxy.in_(galaxies))
        )
    }
    wanted: dict[tuple[str, str], _Cluster] = {}
    for cluster in clusters:
        # A cluster uuid listed twice in one galaxy: the first one counts.
        wanted.setdefault((cluster.galaxy, cluster.cluster_uuid), cluster)

    touched = {cluster.stix_id for cluster in wanted.values()}
    removed = [entry.id for ident, entry in existing.items() if ident not in wanted]
    touched.update(entry.stix_id for ident, entry in existing.items() if ident not in wanted)
    for start in range(0, len(removed), _CHUNK):
        session.execute(
            delete(KnowledgeEntry).where(KnowledgeEntry.id.in_(removed[start : start + _CHUNK]))
        )
    report.entries_removed = len(removed)

    new_rows: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    entry_ids: dict[tuple[str, str], int] = {}
    for ident, cluster in wanted.items():
        values = {
            "kind": cluster.kind.value,
            "name": cluster.name,
            "value": cluster.value,
            "canonical_key": alias_key(cluster.name),
            "rank": cluster.rank,
            "description": cluster.description,
            "external_id": cluster.external_id,
            "stix_id": cluster.stix_id,
        }
        entry = existing.get(ident)
        if entry is None:
            new_rows.append(
                {
                    **values,
                    "galaxy": cluster.galaxy,
                    "cluster_uuid": cluster.cluster_uuid,
                    "updated_at": now,
                }
            )
            continue
        entry_ids[ident] = entry.id
        if any(getattr(entry, name) != value for name, value in values.items()):
            changes.append({"id": entry.id, **values, "updated_at": now})
            touched.add(entry.stix_id)
    for start in range(0, len(new_rows), _CHUNK):
        session.execute(insert(KnowledgeEntry), new_rows[start : start + _CHUNK])
    if new_rows:
        # One select beats RETURNING with parameter order here (2 s on PostgreSQL for 10,000).
        for entry_id, galaxy, cluster_uuid in session.execute(
            select(KnowledgeEntry.id, KnowledgeEntry.galaxy, KnowledgeEntry.cluster_uuid).where(
                KnowledgeEntry.galaxy.in_(galaxies)
            )
        ):
            entry_ids.setdefault((galaxy, cluster_uuid), entry_id)
    if changes:
        session.execute(update(KnowledgeEntry), changes)
    report.entries_created = len(new_rows)
    report.entries_updated = len(changes)

    _sync_aliases(session=session, galaxies=galaxies, wanted=wanted, entry_ids=entry_ids)
    report.aliases = sum(len(cluster.names) for cluster in wanted.values())
    return touched


def _sync_aliases(
    *,
    session: Session,
    galaxies: Sequence[str],
    wanted: Mapping[tuple[str, str], _Cluster],
    entry_ids: Mapping[tuple[str, str], int],
) -> None:
    held: dict[tuple[int, str], tuple[int, str, bool]] = {
        (entry_id, text): (alias_id, key, is_canonical)
        for alias_id, entry_id, key, text, is_canonical in session.execute(
            select(
                KnowledgeAlias.id,
                KnowledgeAlias.entry_id,
                KnowledgeAlias.key,
                KnowledgeAlias.alias,
                KnowledgeAlias.is_canonical,
            )
            .join(KnowledgeEntry, KnowledgeEntry.id == KnowledgeAlias.entry_id)
            .where(KnowledgeEntry.galaxy.in_(galaxies))
        )
    }
    desired: dict[tuple[int, str], tuple[str, bool]] = {
        (entry_ids[ident], text): value
        for ident, cluster in wanted.items()
        for text, value in cluster.aliases.items()
    }
    stale = [alias_id for ident, (alias_id, _, _) in held.items() if ident not in desired]
    for start in range(0, len(stale), _CHUNK):
        session.execute(
            delete(KnowledgeAlias).where(KnowledgeAlias.id.in_(stale[start : start + _CHUNK]))
        )
    inserts: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for (entry_id, text), (key, is_canonical) in desired.items():
        current = held.get((entry_id, text))
        if current is None:
            inserts.append(
                {"entry_id": entry_id, "key": key, "alias": text, "is_canonical": is_canonical}
            )
        elif current[1:] != (key, is_canonical):
            changes.append({"id": current[0], "key": key, "is_canonical": is_canonical})
    for start in range(0, len(inserts), _CHUNK):
        session.execute(insert(KnowledgeAlias), inserts[start : start + _CHUNK])
    if changes:
        session.execute(update(KnowledgeAlias), changes)


def _assign_families(session: Session) -> None:
    """Point every entry at its family head: of the entries of one kind with the same name
    key, the one from the preferred galaxy."""
    rows = session.execute(
        select(
            KnowledgeEntry.id,
            KnowledgeEntry.kind,
            KnowledgeEntry.canonical_key,
            KnowledgeEntry.rank,
            KnowledgeEntry.galaxy,
            KnowledgeEntry.cluster_uuid,
            KnowledgeEntry.family_id,
        )
    ).all()
    heads: dict[tuple[str, str], tuple[int, str, str, int]] = {}
    for entry_id, kind, key, rank, galaxy, cluster_uuid, _ in rows:
        candidate = (rank, galaxy, cluster_uuid, entry_id)
        held = heads.get((kind, key))
        if held is None or candidate < held:
            heads[(kind, key)] = candidate
    changes = [
        {"id": entry_id, "family_id": heads[(kind, key)][3]}
        for entry_id, kind, key, _, _, _, family_id in rows
        if family_id != heads[(kind, key)][3]
    ]
    if changes:
        session.execute(update(KnowledgeEntry), changes)


def _count_ambiguous(session: Session) -> int:
    """Alias keys that name more than one family."""
    pairs = session.execute(
        select(KnowledgeAlias.key, KnowledgeEntry.family_id)
        .join(KnowledgeEntry, KnowledgeEntry.id == KnowledgeAlias.entry_id)
        .distinct()
    ).all()
    families: dict[str, set[int | None]] = {}
    for key, family_id in pairs:
        families.setdefault(key, set()).add(family_id)
    return sum(1 for found in families.values() if len(found) > 1)


def counts(*, session: Session) -> tuple[int, int]:
    """(entries, aliases) held."""
    from sqlalchemy import func

    entries = session.scalar(select(func.count()).select_from(KnowledgeEntry)) or 0
    aliases = session.scalar(select(func.count()).select_from(KnowledgeAlias)) or 0
    return entries, aliases


# -- resolution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """What a name resolves to: `entry` when one family wins, else the tied `candidates`."""

    name: str
    key: str
    entry: KnowledgeEntry | None
    candidates: tuple[KnowledgeEntry, ...] = ()


def lookup_many(
    *, session: Session, names: Iterable[str], kind: str | None = None
) -> dict[str, Resolution]:
    """Resolve names in one pass. Matches of the entry's own name beat synonyms, then the
    preferred galaxy wins; a kind, when given, is a filter (a malware name never resolves to
    an actor). Several families left level is ambiguous: no entry, the candidates instead."""
    wanted_kind = kind_of(kind) if kind is not None else None
    keys = {name: alias_key(name) for name in names}
    matches: dict[str, list[tuple[bool, KnowledgeEntry]]] = {}
    distinct = sorted({key for key in keys.values() if key})
    for start in range(0, len(distinct), _CHUNK):
        statement = (
            select(KnowledgeAlias.key, KnowledgeAlias.is_canonical, KnowledgeEntry)
            .join(KnowledgeEntry, KnowledgeEntry.id == KnowledgeAlias.entry_id)
            .where(KnowledgeAlias.key.in_(distinct[start : start + _CHUNK]))
        )
        if wanted_kind is not None:
            statement = statement.where(KnowledgeEntry.kind == wanted_kind.value)
        for key, is_canonical, entry in session.execute(statement):
            matches.setdefault(key, []).append((is_canonical, entry))

    winners: dict[str, list[int]] = {}
    for key, found in matches.items():
        best = min((not canonical, entry.rank) for canonical, entry in found)
        winners[key] = sorted(
            {
                entry.family_id or entry.id
                for canonical, entry in found
                if (not canonical, entry.rank) == best
            }
        )
    family_ids = sorted({fid for ids in winners.values() for fid in ids})
    heads: dict[int, KnowledgeEntry] = {}
    for start in range(0, len(family_ids), _CHUNK):
        for entry in session.scalars(
            select(KnowledgeEntry).where(KnowledgeEntry.id.in_(family_ids[start : start + _CHUNK]))
        ):
            heads[entry.id] = entry

    resolved: dict[str, Resolution] = {}
    for name, key in keys.items():
        ids = winners.get(key, [])
        if len(ids) == 1:
            resolved[name] = Resolution(name=name, key=key, entry=heads[ids[0]])
        else:
            tied = sorted((heads[i] for i in ids), key=lambda e: (e.kind, e.name, e.id))
            resolved[name] = Resolution(name=name, key=key, entry=None, candidates=tuple(tied))
    return resolved


def lookup(*, session: Session, name: str, kind: str | None = None) -> Resolution:
    return lookup_many(session=session, names=[name], kind=kind)[name]


def resolve(*, session: Session, name: str, kind: str | None = None) -> KnowledgeEntry | None:
    """The family a name belongs to, or None when unknown or ambiguous."""
    return lookup(session=session, name=name, kind=kind).entry


def resolve_many(
    *, session: Session, names: Iterable[str], kind: str | None = None
) -> dict[str, KnowledgeEntry | None]:
    return {
        name: found.entry
        for name, found in lookup_many(session=session, names=names, kind=kind).items()
    }


def canonical_sdo_id(*, session: Session, kind: str, name: str) -> str | None:
    """The STIX id of the family `name` belongs to; `kind` is a knowledge kind or the STIX type
    the caller would build (intrusion-set and threat-actor are one kind). None when unknown."""
    entry = resolve(session=session, name=name, kind=kind)
    return entry.stix_id if entry is not None else None


def sdo_resolver(*, session: Session) -> SdoResolver:
    """`(kind, name) -> STIX id | None` for the parsers, one query per distinct name."""
    cache: dict[tuple[str, str], str | None] = {}

    def resolve_sdo(kind: str, name: str) -> str | None:
        ident = (kind, alias_key(name))
        if ident not in cache:
            cache[ident] = canonical_sdo_id(session=session, kind=kind, name=name)
        return cache[ident]

    return resolve_sdo


def family(*, session: Session, entry: KnowledgeEntry) -> list[KnowledgeEntry]:
    """The entries of the family `entry` heads (or belongs to), the head first."""
    head_id = entry.family_id or entry.id
    members = session.scalars(
        select(KnowledgeEntry).where(
            (KnowledgeEntry.family_id == head_id) | (KnowledgeEntry.id == head_id)
        )
    ).all()
    return sorted(members, key=lambda e: (e.id != head_id, e.rank, e.galaxy, e.cluster_uuid))


def aliases_of(*, session: Session, entries: Sequence[KnowledgeEntry]) -> list[str]:
    """Every name of these entries, in entry order then file order, without repeats."""
    order = {entry.id: position for position, entry in enumerate(entries)}
    rows = session.execute(
        select(KnowledgeAlias.entry_id, KnowledgeAlias.alias, KnowledgeAlias.id).where(
            KnowledgeAlias.entry_id.in_(list(order))
        )
    ).all()
    rows = sorted(rows, key=lambda row: (order[row[0]], row[2]))
    return list(dict.fromkeys(alias for _, alias, _ in rows))


def to_read(*, session: Session, entry: KnowledgeEntry) -> KnowledgeEntryRead:
    members = family(session=session, entry=entry)
    head = members[0]
    return KnowledgeEntryRead(
        kind=head.kind,
        name=head.name,
        stix_id=head.stix_id,
        galaxy=head.galaxy,
        cluster_uuid=head.cluster_uuid,
        description=head.description,
        external_id=head.external_id,
        aliases=[
            alias for alias in aliases_of(session=session, entries=members) if alias != head.name
        ],
        sources=[
            KnowledgeSourceRead(
                galaxy=member.galaxy,
                cluster_uuid=member.cluster_uuid,
                name=member.name,
                stix_id=member.stix_id,
                external_id=member.external_id,
            )
            for member in members
        ],
    )
