"""A bounded neighbourhood of the correlation graph around one observable or record, with its
candidate clusters (campaigns sharing infrastructure), for the API and the UI graph.

Nodes are observables, records (intel objects), autonomous systems and reference families;
edges are reports (a record reported an observable), links (a URL's host, a name's registered
domain, an e-mail's domain, a stated resolution), STIX references between records, an
address's AS, and the family a record names. The walk
is breadth-first and stops at `limit` nodes, so the answer stays small whatever the database
holds. Every node passes the sharing rules:

- a record is shown if the actor may read it;
- an observable if the actor may read a report of it, or if a shown observable's value implies
  it (the host of a shown URL, the registered domain of a shown name): the value is then
  already in front of the actor;
- a stated resolution only if the actor may read the record that states it.

Noise (flagged values nobody overrode) is not walked through: a URL on a top site would
otherwise join every other URL on that site into one cluster. Clusters are the communities
networkx finds (Louvain, fixed seed) in what was walked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.core.db import custom_plans
from cyberfusion.core.errors import NotFound, ValidationFailed
from cyberfusion.correlation.models import LinkKind, ObservableLink, RecordKnowledge
from cyberfusion.correlation.service import readable_link_condition, readable_observable_condition
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.enrichment.models import Enrichment, EnrichmentKind
from cyberfusion.intel.models import IntelObject
from cyberfusion.knowledge.models import KnowledgeEntry
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.sharing import service as sharing_service

MAX_DEPTH = 4
MAX_LIMIT = 5000
# Derived links whose target the source's value implies: shown without a report of their own.
_IMPLIED = (LinkKind.HOST.value, LinkKind.REGISTERED_DOMAIN.value, LinkKind.EMAIL_DOMAIN.value)
_REF_PROPERTIES = ("source_ref", "target_ref", "sighting_of_ref", "where_sighted_refs")


@dataclass
class Graph:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)
    truncated: bool = False
    clusters: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodes": list(self.nodes.values()),
            "edges": [
                {"source": source, "target": target, "kind": kind}
                for source, target, kind in sorted(self.edges)
            ],
            "clusters": self.clusters,
            "truncated": self.truncated,
        }


def parse_node(around: str) -> tuple[str, int]:
    """'observable:12' or 'object:34' -> (kind, id); a bare number is an observable."""
    kind, _, number = around.rpartition(":")
    kind = kind or "observable"
    if kind not in ("observable", "object") or not number.isdigit():
        raise ValidationFailed(
            f"around={around!r} must be 'observable:<id>' or 'object:<id>'", field="around"
        )
    return kind, int(number)


class _Walk:
    def __init__(self, session: Session, actor: Actor, limit: int) -> None:
        self.session = session
        self.actor = actor
        self.limit = limit
        self.graph = Graph()
        # Observable id -> flagged as noise (not walked through).
        self.pending_noise: dict[int, bool] = {}
        # Families reached in the current step, walked in the next.
        self.new_knowledge: list[int] = []

    @property
    def room(self) -> int:
        return self.limit - len(self.graph.nodes)

    def add_node(self, key: str, data: dict[str, Any]) -> bool:
        if key in self.graph.nodes:
            return True
        if self.room <= 0:
            self.graph.truncated = True
            return False
        self.graph.nodes[key] = {"id": key, **data}
        return True

    def add_edge(self, source: str, target: str, kind: str) -> None:
        if source in self.graph.nodes and target in self.graph.nodes and source != target:
            self.graph.edges.add((source, target, kind))

    # ------------------------------------------------------------------ nodes

    def observables(self, ids: Iterable[int]) -> dict[int, Observable]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self.session.scalars(select(Observable).where(Observable.id.in_(wanted))).all()
        noisy = set(
            self.session.scalars(
                select(Observable.id).where(
                    Observable.id.in_(wanted), enrichment_service.noise_condition(Observable.id)
                )
            ).all()
        )
        out = {}
        for row in rows:
            out[row.id] = row
            self.pending_noise[row.id] = row.id in noisy
        return out

    def observable_node(self, row: Observable) -> bool:
        return self.add_node(
            f"observable:{row.id}",
            {
                "kind": "observable",
                "type": row.obs_type,
                "label": row.value,
                "noise": self.pending_noise.get(row.id, False),
            },
        )

    def object_node(self, row: IntelObject) -> bool:
        content = row.content
        name = content.get("name") or content.get("value") or row.stix_id
        return self.add_node(
            f"object:{row.id}",
            {
                "kind": "object",
                "type": row.stix_type,
                "label": str(name)[:200],
                "stix_id": row.stix_id,
                "status": row.status,
            },
        )

    # ------------------------------------------------------------------ expansion

    def expand_observables(self, ids: Sequence[int]) -> tuple[list[int], list[int]]:
        """Neighbours of observables: (new observable ids, new record ids)."""
        session, actor = self.session, self.actor
        new_obs: list[int] = []
        new_records: list[int] = []
        walkable = [i for i in ids if not self.pending_noise.get(i, False)]
        if not walkable:
            return new_obs, new_records
        # Records that reported them.
        reports = session.execute(
            select(Occurrence.observable_id, IntelObject)
            .join(IntelObject, IntelObject.id == Occurrence.intel_object_id)
            .where(
                Occurrence.observable_id.in_(walkable),
                sharing_service.readable_condition(actor, Occurrence),
            )
            .order_by(Occurrence.id)
            .limit(max(self.room, 0) + len(walkable))
        ).all()
        for obs_id, record in reports:
            key = f"object:{record.id}"
            fresh = key not in self.graph.nodes
            if self.object_node(record):
                self.add_edge(key, f"observable:{obs_id}", "reported")
                if fresh:
                    new_records.append(record.id)
        # Links out of and into them.
        stated_readable = readable_link_condition(actor)
        outgoing = session.execute(
            select(ObservableLink.observable_id, ObservableLink.kind, ObservableLink.target_id)
            .where(ObservableLink.observable_id.in_(walkable), stated_readable)
            .order_by(ObservableLink.id)
            .limit(max(self.room, 0) + len(walkable))
        ).all()
        target_rows = self.observables(row[2] for row in outgoing)
        for source, kind, target in outgoing:
            row = target_rows.get(target)
            # An implied target needs no report of its own; a stated one is an address the
            # stating record (readable here) gave.
            if row is None:
                continue
            fresh = f"observable:{target}" not in self.graph.nodes
            if self.observable_node(row):
                self.add_edge(f"observable:{source}", f"observable:{target}", kind)
                if fresh:
                    new_obs.append(target)
        incoming = session.execute(
            select(ObservableLink.observable_id, ObservableLink.kind, ObservableLink.target_id)
            .join(Observable, Observable.id == ObservableLink.observable_id)
            .where(
                ObservableLink.target_id.in_(walkable),
                stated_readable,
                readable_observable_condition(actor),
            )
            .order_by(ObservableLink.id)
            .limit(max(self.room, 0) + len(walkable))
        ).all()
        source_rows = self.observables(row[0] for row in incoming)
        for source, kind, target in incoming:
            row = source_rows.get(source)
            if row is None:
                continue
            fresh = f"observable:{source}" not in self.graph.nodes
            if self.observable_node(row):
                self.add_edge(f"observable:{source}", f"observable:{target}", kind)
                if fresh:
                    new_obs.append(source)
        # Autonomous systems of addresses: leaves that join addresses of one network.
        latest = (
            select(func.max(Enrichment.id))
            .where(
                Enrichment.observable_id.in_(walkable), Enrichment.kind == EnrichmentKind.ASN.value
            )
            .group_by(Enrichment.observable_id)
        )
        for obs_id, data in session.execute(
            select(Enrichment.observable_id, Enrichment.data).where(Enrichment.id.in_(latest))
        ).all():
            # The shipped data names the AS organisation, not its number: one node per name.
            holder = data.get("as_organisation")
            if not holder:
                continue
            key = f"as:{holder}"
            if self.add_node(
                key,
                {"kind": "autonomous-system", "type": "autonomous-system", "label": str(holder)},
            ):
                self.add_edge(f"observable:{obs_id}", key, "announced-by")
        return new_obs, new_records

    def expand_knowledge(self, ids: Sequence[int]) -> list[int]:
        """Records, readable by the actor, that name these families: new record ids."""
        if not ids:
            return []
        rows = self.session.execute(
            select(RecordKnowledge.entry_id, IntelObject)
            .join(IntelObject, IntelObject.id == RecordKnowledge.intel_object_id)
            .where(
                RecordKnowledge.entry_id.in_(ids),
                sharing_service.readable_condition(self.actor, IntelObject),
            )
            .order_by(RecordKnowledge.id)
            .limit(max(self.room, 0) + len(ids))
        ).all()
        new_records = []
        for entry_id, record in rows:
            key = f"object:{record.id}"
            fresh = key not in self.graph.nodes
            if self.object_node(record):
                self.add_edge(key, f"knowledge:{entry_id}", "names")
                if fresh:
                    new_records.append(record.id)
        return new_records

    def expand_records(self, ids: Sequence[int]) -> tuple[list[int], list[int]]:
        """Neighbours of records: what they reported, and the records they refer to."""
        session, actor = self.session, self.actor
        new_obs: list[int] = []
        new_records: list[int] = []
        if not ids:
            return new_obs, new_records
        reported = session.execute(
            select(Occurrence.intel_object_id, Occurrence.observable_id)
            .where(
                Occurrence.intel_object_id.in_(ids),
                sharing_service.readable_condition(actor, Occurrence),
            )
            .order_by(Occurrence.id)
            .limit(max(self.room, 0) + len(ids))
        ).all()
        rows = self.observables(row[1] for row in reported)
        for record_id, obs_id in reported:
            row = rows.get(obs_id)
            if row is None:
                continue
            fresh = f"observable:{obs_id}" not in self.graph.nodes
            if self.observable_node(row):
                self.add_edge(f"object:{record_id}", f"observable:{obs_id}", "reported")
                if fresh:
                    new_obs.append(obs_id)
        # The reference families the records name: where sources meet.
        for record_id, entry_id, name, kind in session.execute(
            select(
                RecordKnowledge.intel_object_id,
                KnowledgeEntry.id,
                KnowledgeEntry.name,
                KnowledgeEntry.kind,
            )
            .join(KnowledgeEntry, KnowledgeEntry.id == RecordKnowledge.entry_id)
            .where(RecordKnowledge.intel_object_id.in_(ids))
            .order_by(RecordKnowledge.id)
        ).all():
            key = f"knowledge:{entry_id}"
            fresh = key not in self.graph.nodes
            if self.add_node(key, {"kind": "knowledge", "type": kind, "label": name}):
                self.add_edge(f"object:{record_id}", key, "names")
                if fresh:
                    self.new_knowledge.append(entry_id)
        # STIX references: relationships, sightings, and the object_refs of reports/groupings.
        records = session.scalars(select(IntelObject).where(IntelObject.id.in_(ids))).all()
        refs: dict[int, list[tuple[str, str]]] = {}
        for record in records:
            found: list[tuple[str, str]] = []
            for name in _REF_PROPERTIES:
                value = record.content.get(name)
                for ref in value if isinstance(value, list) else [value]:
                    if isinstance(ref, str):
                        found.append((ref, name.removesuffix("_refs").removesuffix("_ref")))
            if record.stix_type in ("report", "grouping", "note", "opinion"):
                object_refs = record.content.get("object_refs") or []
                found.extend(
                    (ref, "refers-to")
                    for ref in object_refs[: max(self.room, 0)]
                    if isinstance(ref, str)
                )
            refs[record.id] = found
        wanted = {ref for found in refs.values() for ref, _ in found}
        if not wanted:
            return new_obs, new_records
        latest = (
            select(func.max(IntelObject.id))
            .where(
                IntelObject.stix_id.in_(sorted(wanted)),
                sharing_service.readable_condition(actor, IntelObject),
            )
            .group_by(IntelObject.stix_id)
        )
        targets = {
            row.stix_id: row
            for row in session.scalars(select(IntelObject).where(IntelObject.id.in_(latest)))
        }
        for record_id, found in refs.items():
            for ref, kind in found:
                target = targets.get(ref)
                if target is None:
                    continue
                key = f"object:{target.id}"
                fresh = key not in self.graph.nodes
                if self.object_node(target):
                    self.add_edge(f"object:{record_id}", key, kind)
                    if fresh:
                        new_records.append(target.id)
        return new_obs, new_records


def neighbourhood(
    *, session: Session, actor: Actor, around: str, depth: int = 2, limit: int = 500
) -> Graph:
    """The graph within `depth` steps of `around` ('observable:<id>' or 'object:<id>'), at most
    `limit` nodes, as far as the actor may see, with candidate clusters. NotFound when the
    actor may not see the starting node."""
    actor.require(Permission.INTEL_OBJECT_READ)
    if not 0 <= depth <= MAX_DEPTH:
        raise ValidationFailed(f"depth must be between 0 and {MAX_DEPTH}", field="depth")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    kind, number = parse_node(around)
    # The walk's statements repeat with ever other ids: planned for their own (see
    # `custom_plans`), a walk on PostgreSQL takes 60 to 64 % of the time it took with the
    # generic plans (docs/benchmarks.md, change 12).
    with custom_plans(session):
        return _neighbourhood(session, actor, kind, number, depth, limit)


def _neighbourhood(
    session: Session, actor: Actor, kind: str, number: int, depth: int, limit: int
) -> Graph:
    walk = _Walk(session, actor, limit)
    frontier_obs: list[int] = []
    frontier_records: list[int] = []
    if kind == "observable":
        start = session.scalar(
            select(Observable).where(
                and_(Observable.id == number, readable_observable_condition(actor))
            )
        )
        if start is None:
            raise NotFound(f"observable {number} does not exist", field="around")
        walk.observables([start.id])
        walk.observable_node(start)
        # The value asked about is walked even when it is noise: who reported it matters.
        walk.pending_noise[start.id] = False
        frontier_obs.append(start.id)
    else:
        record = session.scalar(
            select(IntelObject).where(
                IntelObject.id == number, sharing_service.readable_condition(actor, IntelObject)
            )
        )
        if record is None:
            raise NotFound(f"record {number} does not exist", field="around")
        walk.object_node(record)
        frontier_records.append(record.id)
    frontier_knowledge: list[int] = []
    for _ in range(depth):
        if walk.room <= 0:
            walk.graph.truncated = True
            break
        walk.new_knowledge = []
        obs_a, rec_a = walk.expand_observables(frontier_obs)
        obs_b, rec_b = walk.expand_records(frontier_records)
        rec_c = walk.expand_knowledge(frontier_knowledge)
        frontier_obs = sorted(set(obs_a + obs_b))
        frontier_records = sorted(set(rec_a + rec_b + rec_c))
        frontier_knowledge = sorted(set(walk.new_knowledge))
        if not frontier_obs and not frontier_records and not frontier_knowledge:
            break
    walk.graph.clusters = clusters(walk.graph)
    return walk.graph


# A connected group larger than this is split into its communities.
_SPLIT_ABOVE = 50
_RESOLUTION = 0.2


def clusters(graph: Graph) -> list[dict[str, Any]]:
    """Candidate campaigns: the connected groups of the walked graph, a large one split into
    its communities (Louvain at resolution 0.2, fixed seed so that the same graph gives the
    same answer), largest first; each node gets its cluster number. Singletons are not
    clusters."""
    g = nx.Graph()
    g.add_nodes_from(graph.nodes)
    g.add_edges_from((source, target) for source, target, _ in graph.edges)
    if g.number_of_edges() == 0:
        return []
    groups: list[set[str]] = []
    for component in nx.connected_components(g):
        if len(component) > _SPLIT_ABOVE:
            # A low resolution favours larger communities: infrastructure is star-shaped (one
            # host, many URLs); at 1 Louvain cuts a star into its spokes, at 0.2 it keeps one star
            # whole and still parts stars that share only a registered domain.
            groups.extend(
                nx.community.louvain_communities(
                    g.subgraph(component), seed=0, resolution=_RESOLUTION
                )
            )
        else:
            groups.append(set(component))
    ordered = sorted((sorted(c) for c in groups if len(c) > 1), key=lambda c: (-len(c), c))
    out = []
    for number, members in enumerate(ordered, start=1):
        kinds: dict[str, int] = {}
        for source, target, kind in graph.edges:
            if source in members and target in members:
                kinds[kind] = kinds.get(kind, 0) + 1
        for key in members:
            graph.nodes[key]["cluster"] = number
        out.append(
            {
                "id": number,
                "size": len(members),
                "nodes": members,
                "shared_by": dict(sorted(kinds.items())),
            }
        )
    return out
