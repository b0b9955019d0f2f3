"""Intelligence products: build and issue Cyber Activity Reports, deliver them to the recipient's
inbox, record reading, acknowledgement and feedback, and measure the reaction.

A Cyber Activity Report (CAR) for country CC and a period holds every observable that

- enrichment attributes to CC for a reason that places it there (`CAR_REASONS`: hosted in,
  ccTLD of, phone number or bank account of, victim in; not "reported by": a country's own
  reports are not threats found in its jurisdiction),
- was reported (occurrence) within the period, by a record that is validated,
- is not noise (no active warninglist or special-purpose flag),
- and whose record both the recipient (CC's NCB) and the issuer may read through the sharing
  choke point: a product never carries a record its recipient could not read directly, nor one
  its issuer (who keeps it in the register) could not.

On request a CAR covers an autonomous system or a network (CIDR range) instead of a country,
for a recipient named explicitly (the network owner's CERT, a country's NCB): the addresses inside
the range (`network_condition`), or the addresses that validated records report together with
the AS number (`asn_conditions`: the offline enrichment names AS organisations and prefixes, not
AS numbers, so the records' own statements are what ties an address to an AS number). The other
conditions are the country CAR's, the recipient's reading rights included.

Its TLP is the strictest of its content, its audience the recipient organisation alone, and the
handling restrictions of any record carry over. Every format renders from the stored document,
whose SHA-256 is the product's content hash. Issuing again from the same start with no new
indicator changes nothing.
"""

from __future__ import annotations

import ipaddress
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Session, aliased

from cyberfusion.account.permissions import Permission, Role
from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.core.canonical import content_hash
from cyberfusion.core.errors import NotFound, ValidationFailed
from cyberfusion.core.time import as_utc, utcnow
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.enrichment.models import Enrichment, EnrichmentKind, Jurisdiction
from cyberfusion.enrichment.models import JurisdictionReason as Reason
from cyberfusion.intel.models import IntelObject
from cyberfusion.notification.models import Notification
from cyberfusion.observable import service as observable_service
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.observable.types import ObservableType
from cyberfusion.product import groups as groups_table
from cyberfusion.product.models import (
    ActionTemplate,
    Outcome,
    Product,
    ProductDelivery,
    ProductFeedback,
    ProductItem,
    ProductKind,
)
from cyberfusion.product.schemas import (
    ActionTemplateRead,
    ActionTemplateUpdate,
    CarIssue,
    CarScope,
    CountryStats,
    DeliveryRead,
    FeedbackIn,
    FeedbackRead,
    ProductItemRead,
    ProductRead,
    ProviderStats,
    as_period_bound,
)
from cyberfusion.registry import service as registry_service
from cyberfusion.registry.models import Country, Organisation, OrgKind
from cyberfusion.sharing import service as sharing_service
from cyberfusion.sharing.models import Audience, SharingLabel, Tlp
from cyberfusion.sharing.schemas import LabelsIn

CAR_REASONS = (
    Reason.HOSTED_IN.value,
    Reason.CCTLD_OF.value,
    Reason.PHONE_NUMBER_OF.value,
    Reason.BANK_ACCOUNT_IN.value,
    Reason.VICTIM_IN.value,
)
# How much a recipient's "false positive" lowers the record's confidence (0-100).
FALSE_POSITIVE_PENALTY = 30
_HANDLING = ("no_further_dissemination", "no_judicial_use", "contact_owner_before_action")


# --------------------------------------------------------------------------- recipients


def recipient_actor(org: Organisation) -> Actor:
    """The recipient organisation as the sharing filter sees it: what an officer of it reads."""
    return org_actor(org, Role.OFFICER)


def org_actor(org: Organisation, role: Role) -> Actor:
    """An organisation acting without a user (scheduled jobs, the recipient's view)."""
    return Actor.for_organisation(org, roles=(role.value,), via=f"product:{org.slug}")


def national_bureau(*, session: Session, country_code: str) -> Organisation:
    """The NCB of a member country: the recipient of its Cyber Activity Reports."""
    country = registry_service.get_country_or_raise(session=session, code=country_code)
    org = session.scalars(
        select(Organisation)
        .where(
            Organisation.kind == OrgKind.NCB.value,
            Organisation.country_code == country.iso2,
            Organisation.is_active.is_(True),
        )
        .order_by(Organisation.id)
        .limit(1)
    ).one_or_none()
    if org is None:
        raise ValidationFailed(
            f"no active NCB is registered for {country.iso2} ({country.name})", field="country"
        )
    return org


# --------------------------------------------------------------------------- templates


def ensure_templates(*, session: Session) -> None:
    """Seed the template of every threat group that has none (the hub's edits are kept)."""
    present = set(session.scalars(select(ActionTemplate.threat_group)))
    missing = [key for key in groups_table.GROUP_KEYS if key not in present]
    if not missing:
        return
    now = utcnow()
    for key in missing:
        group = groups_table.get(key)
        session.add(
            ActionTemplate(
                threat_group=key,
                title=group.title,
                why_it_matters=group.why_it_matters,
                actions="\n".join(group.actions),
                updated_at=now,
                updated_by="system",
            )
        )
    session.flush()


def _template_read(row: ActionTemplate) -> ActionTemplateRead:
    return ActionTemplateRead(
        threat_group=row.threat_group,
        title=row.title,
        why_it_matters=row.why_it_matters,
        actions=[line for line in row.actions.split("\n") if line],
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def list_templates(*, session: Session, actor: Actor) -> list[ActionTemplateRead]:
    actor.require(Permission.PRODUCT_REPORT_ISSUE)
    ensure_templates(session=session)
    rows = {row.threat_group: row for row in session.scalars(select(ActionTemplate))}
    return [_template_read(rows[key]) for key in groups_table.GROUP_KEYS]


def update_template(
    *, session: Session, actor: Actor, threat_group: str, template_in: ActionTemplateUpdate
) -> ActionTemplateRead:
    """The hub rewrites what products say about one threat group; audited."""
    actor.require(Permission.PRODUCT_REPORT_ISSUE)
    if threat_group not in groups_table.GROUP_KEYS:
        raise NotFound(
            f"no threat group {threat_group!r}; groups: {', '.join(groups_table.GROUP_KEYS)}",
            field="threat_group",
        )
    ensure_templates(session=session)
    row = session.get(ActionTemplate, threat_group)
    assert row is not None
    before = _template_read(row).model_dump(include={"title", "why_it_matters", "actions"})
    row.title = template_in.title
    row.why_it_matters = template_in.why_it_matters
    row.actions = "\n".join(template_in.actions)
    row.updated_at = utcnow()
    row.updated_by = actor.label
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="product.template.update",
        target_type="product_action_template",
        target_id=threat_group,
        details={"before": before, "after": template_in.model_dump()},
    )
    return _template_read(row)


# --------------------------------------------------------------------------- collecting


@dataclass(frozen=True)
class CarItem:
    observable_id: int
    obs_type: str
    value: str
    record_id: int
    stix_id: str
    stix_type: str
    owner_org_id: int
    label_id: int
    reliability: str
    credibility: int
    confidence: int
    reported_at: datetime
    group: str


def car_conditions(
    *,
    issuer: Actor,
    recipient: Actor,
    country_code: str,
    since: datetime,
    until: datetime,
) -> list[ColumnElement[bool]]:
    """The conditions an (occurrence, record) pair meets to enter country's CAR for a period
    (see the module's docstring); for a query joining Occurrence and IntelObject."""
    # The country code is rendered into the SQL text: PostgreSQL would otherwise, after five
    # runs of the prepared statement, settle on a generic plan that scans every occurrence
    # (measured with 20,000 observables: about 70 ms a country instead of 20).
    attributed = select(Jurisdiction.observable_id).where(
        Jurisdiction.country_code == literal(country_code, String(), literal_execute=True),
        Jurisdiction.reason.in_(CAR_REASONS),
    )
    return [
        Occurrence.observable_id.in_(attributed),
        *_common_conditions(issuer=issuer, recipient=recipient, since=since, until=until),
    ]


def _common_conditions(
    *, issuer: Actor, recipient: Actor, since: datetime, until: datetime
) -> list[ColumnElement[bool]]:
    """What every CAR asks of an (occurrence, record) pair, whatever its scope."""
    return [
        Occurrence.reported_at >= since,
        Occurrence.reported_at < until,
        IntelObject.status == "validated",
        sharing_service.readable_condition(recipient, IntelObject),
        sharing_service.readable_condition(issuer, IntelObject),
        sharing_service.readable_condition(recipient, Occurrence),
        sharing_service.readable_condition(issuer, Occurrence),
        ~enrichment_service.noise_condition(Occurrence.observable_id),
    ]


_IP_TYPES = (ObservableType.IPV4.value, ObservableType.IPV6.value)
# The predicate of the partial index `ix_observable_ip_value`, written as the index is, so that
# both databases see that a query is inside it.
_IP_INDEX_PREDICATE = "obs_type IN ('ipv4-addr', 'ipv6-addr')"
_SQLITE_WITHIN = "cyberfusion_ip_within"


def text_prefixes(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    """Text prefixes that the normalised form of every address or block inside `network`
    starts with: fixed octets (or the values of a partly fixed one) for IPv4; for IPv6 the
    leading fixed groups up to the first zero group, which `::` may swallow. A superset (an
    exact test follows); [""] when nothing narrows it."""
    if network.version == 4:
        octets = network.network_address.packed
        full, rest = divmod(network.prefixlen, 8)
        head = "".join(f"{octet}." for octet in octets[:full])
        if full == 4:
            return [head[:-1]]
        if rest == 0:
            return [head]
        # The values the partly fixed octet can take; the last octet has no dot after it.
        tail = "." if full < 3 else ""
        first = octets[full]
        return [f"{head}{value}{tail}" for value in range(first, first + (1 << (8 - rest)))]
    groups = [int.from_bytes(network.network_address.packed[i : i + 2]) for i in range(0, 16, 2)]
    fixed: list[str] = []
    for group in groups[: network.prefixlen // 16]:
        if group == 0:
            break
        fixed.append(f"{group:x}")
    if not fixed:
        return [""]
    return [":".join(fixed) + (":" if len(fixed) < 8 else "")]


def _after_prefix(prefix: str) -> str:
    """The first string above every string that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _ip_within(value: str | None, network: str | None) -> int:
    if value is None or network is None:
        return 0
    try:
        inner = ipaddress.ip_network(value, strict=False)
        outer = ipaddress.ip_network(network)
    except ValueError:
        return 0
    return int(inner.version == outer.version and inner.subnet_of(outer))  # type: ignore[arg-type]


def network_condition(
    *, session: Session, network: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> ColumnElement[bool]:
    """Occurrences of an address or block that lies inside `network`, found through the
    `ix_observable_ip_value` index: the normalised text of every such value starts with one of
    `text_prefixes`, a range of the index; the exact test then runs on those rows only
    (PostgreSQL's `inet <<=`; on SQLite the same test in Python, as a function of the query's
    connection)."""
    prefixes = [p for p in text_prefixes(network) if p]
    dialect = session.get_bind().dialect.name
    ranges: list[ColumnElement[bool]]
    exact: ColumnElement[bool]
    if dialect == "postgresql":
        # Literal patterns: the planner turns LIKE 'prefix%' into an index range only when it
        # sees the prefix.
        ranges = [
            Observable.value.like(literal(f"{p}%", String(), literal_execute=True))
            for p in prefixes
        ]
        exact = cast(Observable.value, INET).op("<<=")(
            cast(literal(network.compressed, String(), literal_execute=True), INET)
        )
    else:
        ranges = [
            and_(Observable.value >= p, Observable.value < _after_prefix(p)) for p in prefixes
        ]
        raw = session.connection().connection.driver_connection
        assert raw is not None
        raw.create_function(_SQLITE_WITHIN, 2, _ip_within, deterministic=True)
        exact = func.cyberfusion_ip_within(Observable.value, network.compressed) == 1
    family = Observable.obs_type == (
        ObservableType.IPV4.value if network.version == 4 else ObservableType.IPV6.value
    )

    def lookup(text_range: ColumnElement[bool]) -> Select[Any]:
        return select(Observable.id).where(sql_text(_IP_INDEX_PREDICATE), family, text_range, exact)

    # One select per range, each one range of the (obs_type, value) index: with the ranges
    # OR-ed, SQLite without statistics reads every address of the family in the index.
    parts = [lookup(r) for r in ranges] or [lookup(true())]
    inside = parts[0] if len(parts) == 1 else union_all(*parts)
    return Occurrence.observable_id.in_(inside)


def asn_conditions(*, asn: str) -> list[ColumnElement[bool]]:
    """Occurrences, in records that report the autonomous system `asn` ("AS64500"), of an
    address or block, or of the AS itself: the record states that the address is the AS's
    (an indicator `[ipv4-addr:value = ... AND autonomous-system:number = 64500]`, an event
    with both). By index: the AS's digest, its occurrences, the records' occurrences."""
    stated = aliased(Occurrence, name="stated")
    as_id = (
        select(Observable.id)
        .where(Observable.digest == observable_service.digest(ObservableType.ASN.value, asn))
        .scalar_subquery()
    )
    records = select(stated.intel_object_id).where(stated.observable_id == as_id)
    return [
        Occurrence.intel_object_id.in_(records),
        or_(Observable.obs_type.in_(_IP_TYPES), Observable.id == as_id),
    ]


def _items_query(conditions: Sequence[ColumnElement[bool]]) -> Select[Any]:
    return (
        select(
            Occurrence.observable_id,
            Observable.obs_type,
            Observable.value,
            IntelObject.id,
            IntelObject.stix_id,
            IntelObject.stix_type,
            IntelObject.content,
            IntelObject.owner_org_id,
            IntelObject.label_id,
            IntelObject.reliability,
            IntelObject.credibility,
            IntelObject.confidence,
            Occurrence.reported_at,
        )
        .join(IntelObject, IntelObject.id == Occurrence.intel_object_id)
        .join(Observable, Observable.id == Occurrence.observable_id)
        .where(*conditions)
    )


@dataclass(frozen=True)
class Scope:
    """What one CAR covers: kind, value as the register keeps it, and a name for readers."""

    kind: CarScope
    value: str  # FR, AS64500, 198.51.100.0/24
    name: str  # France, AS64500, network 198.51.100.0/24

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.value}"


def scope_conditions(
    *,
    session: Session,
    scope: Scope,
    issuer: Actor,
    recipient: Actor,
    since: datetime,
    until: datetime,
) -> list[ColumnElement[bool]]:
    """`car_conditions` for any scope; for a query joining Occurrence, IntelObject, Observable."""
    if scope.kind == CarScope.COUNTRY:
        return car_conditions(
            issuer=issuer, recipient=recipient, country_code=scope.value, since=since, until=until
        )
    common = _common_conditions(issuer=issuer, recipient=recipient, since=since, until=until)
    if scope.kind == CarScope.ASN:
        return [*asn_conditions(asn=scope.value), *common]
    network = ipaddress.ip_network(scope.value)
    return [network_condition(session=session, network=network), *common]


def collect_car_items(
    *,
    session: Session,
    issuer: Actor,
    recipient: Actor,
    country_code: str | None = None,
    since: datetime,
    until: datetime,
    scope: Scope | None = None,
) -> list[CarItem]:
    """The items of a CAR: of `scope`, or of the country `country_code`."""
    if scope is None:
        assert country_code is not None
        scope = Scope(CarScope.COUNTRY, country_code, country_code)
    conditions = scope_conditions(
        session=session, scope=scope, issuer=issuer, recipient=recipient, since=since, until=until
    )
    items = [
        CarItem(
            observable_id=row[0],
            obs_type=row[1],
            value=row[2],
            record_id=row[3],
            stix_id=row[4],
            stix_type=row[5],
            owner_org_id=row[7],
            label_id=row[8],
            reliability=row[9],
            credibility=row[10],
            confidence=row[11],
            reported_at=as_utc(row[12]),
            group=groups_table.classify(row[6], row[1]),
        )
        for row in session.execute(_items_query(conditions))
    ]
    order = {key: index for index, key in enumerate(groups_table.GROUP_KEYS)}
    items.sort(key=lambda i: (order[i.group], i.obs_type, i.value, i.record_id))
    return items


def _reasons(
    session: Session, country_code: str, observable_ids: Iterable[int]
) -> dict[int, list[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    for chunk in _chunks(sorted(set(observable_ids))):
        for observable_id, reason in session.execute(
            select(Jurisdiction.observable_id, Jurisdiction.reason).where(
                Jurisdiction.country_code == country_code,
                Jurisdiction.reason.in_(CAR_REASONS),
                Jurisdiction.observable_id.in_(chunk),
            )
        ):
            found[observable_id].add(reason)
    return {key: sorted(value) for key, value in found.items()}


def _scope_reasons(
    session: Session, scope: Scope, items: Sequence[CarItem]
) -> dict[int, list[str]]:
    """Why each observable is in the scope: its jurisdiction reasons for a country; for an AS
    or a network, what the scope's condition checked."""
    if scope.kind == CarScope.COUNTRY:
        return _reasons(session, scope.value, (i.observable_id for i in items))
    if scope.kind == CarScope.NETWORK:
        return {i.observable_id: [f"in {scope.value}"] for i in items}
    return {
        i.observable_id: [
            "the AS" if i.obs_type == ObservableType.ASN.value else f"reported with {scope.value}"
        ]
        for i in items
    }


def networks(session: Session, observable_ids: Iterable[int]) -> dict[int, str]:
    """The AS organisation hosting each address, from its current `asn` enrichment."""
    latest: dict[int, tuple[int, str]] = {}
    for chunk in _chunks(sorted(set(observable_ids))):
        for row_id, observable_id, data in session.execute(
            select(Enrichment.id, Enrichment.observable_id, Enrichment.data).where(
                Enrichment.kind == EnrichmentKind.ASN.value, Enrichment.observable_id.in_(chunk)
            )
        ):
            name = data.get("as_organisation") if isinstance(data, dict) else None
            if isinstance(name, str) and row_id > latest.get(observable_id, (0, ""))[0]:
                latest[observable_id] = (row_id, name)
    return {key: value[1] for key, value in latest.items()}


def _chunks(values: Sequence[int], size: int = 2000) -> Iterable[Sequence[int]]:
    # Below SQLite's bound-parameter limit.
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --------------------------------------------------------------------------- the document


def _iso(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_document(
    *,
    session: Session,
    items: Sequence[CarItem],
    scope: Scope,
    recipient: Organisation,
    issuer: Organisation,
    since: datetime,
    until: datetime,
) -> tuple[dict[str, Any], Tlp, dict[str, bool]]:
    """The CAR as data, with its TLP and handling restrictions."""
    labels = {
        label.id: label
        for label in session.scalars(
            select(SharingLabel).where(SharingLabel.id.in_({i.label_id for i in items}))
        )
    }
    owners = {
        org.id: org
        for org in session.scalars(
            select(Organisation).where(Organisation.id.in_({i.owner_org_id for i in items}))
        )
    }
    tlp = max((Tlp(labels[i.label_id].tlp) for i in items), key=lambda t: t.rank)
    handling = {flag: any(getattr(labels[i.label_id], flag) for i in items) for flag in _HANDLING}
    reasons = _scope_reasons(session, scope, items)
    hosting = networks(session, (i.observable_id for i in items))
    ensure_templates(session=session)
    templates = {row.threat_group: row for row in session.scalars(select(ActionTemplate))}

    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        by_group[item.group].append(
            {
                "observable_id": item.observable_id,
                "type": item.obs_type,
                "value": item.value,
                "record_id": item.record_id,
                "stix_id": item.stix_id,
                "reasons": reasons.get(item.observable_id, []),
                "network": hosting.get(item.observable_id),
                "reported_at": _iso(item.reported_at),
                "source": owners[item.owner_org_id].slug,
                "reliability": item.reliability,
                "credibility": item.credibility,
                "confidence": item.confidence,
                "tlp": labels[item.label_id].tlp,
            }
        )
    groups_out = []
    for key in groups_table.GROUP_KEYS:
        if key not in by_group:
            continue
        template = templates[key]
        groups_out.append(
            {
                "key": key,
                "title": template.title,
                "why_it_matters": template.why_it_matters,
                "actions": [line for line in template.actions.split("\n") if line],
                "count": len(by_group[key]),
                "items": by_group[key],
            }
        )

    per_source: dict[int, list[CarItem]] = defaultdict(list)
    for item in items:
        per_source[item.owner_org_id].append(item)
    sources = []
    for owner_id, owned in sorted(per_source.items(), key=lambda kv: owners[kv[0]].slug):
        records = {i.record_id: i for i in owned}.values()
        sources.append(
            {
                "org": owners[owner_id].slug,
                "name": owners[owner_id].name,
                "kind": owners[owner_id].kind,
                "records": len(records),
                "items": len(owned),
                "reliability": dict(sorted(Counter(r.reliability for r in records).items())),
                "credibility": {
                    str(k): v for k, v in sorted(Counter(r.credibility for r in records).items())
                },
                "mean_confidence": round(statistics.fmean(r.confidence for r in records), 1),
            }
        )
    network_counts = Counter(hosting[i.observable_id] for i in items if i.observable_id in hosting)
    document: dict[str, Any] = {
        "kind": ProductKind.CAR.value,
        "title": f"Cyber Activity Report: {scope.name}",
        "scope": {"kind": scope.kind.value, "value": scope.value, "name": scope.name},
        **(
            {"country": {"code": scope.value, "name": scope.name}}
            if scope.kind == CarScope.COUNTRY
            else {}
        ),
        "recipient": {"slug": recipient.slug, "name": recipient.name},
        "issuer": {"slug": issuer.slug, "name": issuer.name},
        "period": {"since": _iso(since), "until": _iso(until)},
        "tlp": tlp.value,
        "handling": handling,
        "summary": {
            "items": len(items),
            "observables": len({i.observable_id for i in items}),
            "records": len({i.record_id for i in items}),
            "sources": len(per_source),
            "groups": {g["key"]: g["count"] for g in groups_out},
            "observable_types": dict(sorted(Counter(i.obs_type for i in items).items())),
            "top_networks": [
                {"as_organisation": name, "items": n}
                for name, n in sorted(network_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            ],
        },
        "groups": groups_out,
        "sources": sources,
    }
    return document, tlp, handling


# --------------------------------------------------------------------------- issuing


@dataclass(frozen=True)
class IssueResult:
    product: Product | None
    issued: bool
    detail: str


def _org_of(session: Session, actor: Actor) -> Organisation:
    if actor.org_id is None:
        raise ValidationFailed(
            "products are issued by an organisation (the hub); act as one of its analysts",
            field="org",
        )
    org = session.get(Organisation, actor.org_id)
    assert org is not None
    return org


def _recipient(session: Session, slug: str) -> Organisation:
    org = registry_service.get_by_slug(session=session, slug=slug)
    if org is None or not org.is_active:
        raise ValidationFailed(f"no active organisation with slug {slug!r}", field="to")
    return org


def car_scope(*, session: Session, car_in: CarIssue) -> tuple[Scope, Organisation]:
    """The scope of a CAR request and its recipient: a country's NCB, or the organisation
    named in `to` for an AS or a network."""
    kind, value = car_in.scope
    if kind == CarScope.COUNTRY:
        recipient = national_bureau(session=session, country_code=value)
        country = recipient.country
        assert country is not None
        return Scope(kind, country.iso2, country.name), recipient
    assert car_in.to is not None
    name = value if kind == CarScope.ASN else f"network {value}"
    return Scope(kind, value, name), _recipient(session, car_in.to)


def issue_car(*, session: Session, actor: Actor, car_in: CarIssue) -> IssueResult:
    """Issue the CAR of a country, an AS or a network for the period, or nothing when there
    is nothing to report.

    Nothing new is not issued again: when the latest product of the same scope for the
    recipient and the same start of period has the same indicators (whatever the end), it
    comes back. Other indicators (records validated or added since) make a new version.
    An issued product is in the register with its content hash, audited, in the recipient's
    inbox and notified to it.
    """
    actor.require(Permission.PRODUCT_REPORT_ISSUE)
    issuer = _org_of(session, actor)
    since = as_period_bound(car_in.since)
    until = as_period_bound(car_in.until) if car_in.until is not None else utcnow()
    if until <= since:
        raise ValidationFailed("until must be after since", field="until")
    scope, recipient = car_scope(session=session, car_in=car_in)
    items = collect_car_items(
        session=session,
        issuer=actor,
        recipient=recipient_actor(recipient),
        scope=scope,
        since=since,
        until=until,
    )
    if not items:
        return IssueResult(
            None,
            False,
            f"nothing to report for {scope.value} from {_iso(since)} to {_iso(until)}",
        )
    # Versions count per scope, recipient and start of period: a report run again with a
    # later end ("until now") and the same indicators has nothing new.
    latest = session.scalars(
        select(Product)
        .where(
            Product.kind == ProductKind.CAR.value,
            Product.scope == scope.key,
            Product.recipient_org_id == recipient.id,
            Product.period_start == since,
        )
        .order_by(Product.version.desc(), Product.id.desc())
        .limit(1)
    ).one_or_none()
    if latest is not None:
        previous = {
            (observable_id, record_id)
            for observable_id, record_id in session.execute(
                select(ProductItem.observable_id, ProductItem.intel_object_id).where(
                    ProductItem.product_id == latest.id
                )
            )
        }
        if previous == {(i.observable_id, i.record_id) for i in items}:
            return IssueResult(
                latest,
                False,
                f"nothing new since product {latest.id} (version {latest.version}), "
                "which has these indicators",
            )
    document, tlp, handling = build_document(
        session=session,
        items=items,
        scope=scope,
        recipient=recipient,
        issuer=issuer,
        since=since,
        until=until,
    )
    digest = content_hash(document)
    label = sharing_service.resolve(
        session=session,
        owner=issuer,
        labels_in=LabelsIn(
            tlp=tlp, audience=Audience.ORGANISATIONS, recipients=[recipient.slug], **handling
        ),
    )
    product = Product(
        kind=ProductKind.CAR.value,
        version=latest.version + 1 if latest is not None else 1,
        country_code=scope.value if scope.kind == CarScope.COUNTRY else None,
        scope=scope.key,
        recipient_org_id=recipient.id,
        period_start=since,
        period_end=until,
        tlp=tlp.value,
        label_id=label.id,
        document=document,
        content_hash=digest,
        item_count=len(items),
        issued_at=utcnow(),
        issued_by=actor.label,
        issued_by_org_id=issuer.id,
    )
    session.add(product)
    session.flush()
    session.execute(
        insert(ProductItem),
        [
            {
                "product_id": product.id,
                "observable_id": i.observable_id,
                "intel_object_id": i.record_id,
                "threat_group": i.group,
            }
            for i in items
        ],
    )
    session.add(
        ProductDelivery(
            product_id=product.id, recipient_org_id=recipient.id, delivered_at=product.issued_at
        )
    )
    session.add(
        Notification(
            recipient_org_id=recipient.id,
            kind="product",
            summary=f"Cyber Activity Report for {scope.name} "
            f"({_iso(since)[:10]} to {_iso(until)[:10]}): {len(items)} indicators, "
            f"TLP:{tlp.value.upper()}",
            payload={"product_id": product.id, "kind": product.kind, "version": product.version},
        )
    )
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="product.issue",
        target_type="product",
        target_id=product.id,
        details={
            "kind": product.kind,
            "version": product.version,
            "scope": scope.key,
            "recipient": recipient.slug,
            "period": [_iso(since), _iso(until)],
            "items": len(items),
            "tlp": tlp.value,
            "content_hash": digest,
        },
    )
    return IssueResult(product, True, f"issued product {product.id} version {product.version}")


def issue_all_cars(
    *, session: Session, actor: Actor, since: datetime, until: datetime | None = None
) -> list[tuple[str, IssueResult]]:
    """Every member country's CAR for the period (countries with an active NCB)."""
    actor.require(Permission.PRODUCT_REPORT_ISSUE)
    codes = session.scalars(
        select(Country.iso2)
        .join(Organisation, Organisation.country_code == Country.iso2)
        .where(
            Country.is_member.is_(True),
            Organisation.kind == OrgKind.NCB.value,
            Organisation.is_active.is_(True),
        )
        .distinct()
        .order_by(Country.iso2)
    ).all()
    until = until or utcnow()
    return [
        (
            code,
            issue_car(
                session=session,
                actor=actor,
                car_in=CarIssue(country=code, since=since, until=until),
            ),
        )
        for code in codes
    ]


# --------------------------------------------------------------------------- reading


def get_or_raise(*, session: Session, actor: Actor, product_id: int) -> Product:
    """A product the actor may read; anything else is 'not found', never 'forbidden'."""
    actor.require(Permission.PRODUCT_REPORT_READ)
    product = session.scalars(
        select(Product).where(
            Product.id == product_id, sharing_service.readable_condition(actor, Product)
        )
    ).one_or_none()
    if product is None:
        raise NotFound(f"no product {product_id}", field="product_id")
    return product


def list_(
    *, session: Session, actor: Actor, limit: int = 100, offset: int = 0
) -> Sequence[Product]:
    """Products the actor may read, newest first."""
    actor.require(Permission.PRODUCT_REPORT_READ)
    return session.scalars(
        select(Product)
        .where(sharing_service.readable_condition(actor, Product))
        .order_by(Product.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()


def inbox(*, session: Session, actor: Actor, unread_only: bool = False) -> Sequence[Product]:
    """Products delivered to the actor's organisation, newest first."""
    actor.require(Permission.PRODUCT_REPORT_READ)
    query = (
        select(Product)
        .join(ProductDelivery, ProductDelivery.product_id == Product.id)
        .where(
            ProductDelivery.recipient_org_id == actor.org_id,
            sharing_service.readable_condition(actor, Product),
        )
    )
    if unread_only:
        query = query.where(ProductDelivery.read_at.is_(None))
    return session.scalars(query.order_by(Product.id.desc())).all()


def delivered(*, session: Session, actor: Actor) -> list[tuple[Product, datetime]]:
    """Products delivered to the actor's organisation that it may read, with when each was
    delivered, oldest first (the order of the organisation's TAXII collection)."""
    actor.require(Permission.PRODUCT_REPORT_READ)
    if actor.org_id is None:
        return []
    rows = session.execute(
        select(Product, ProductDelivery.delivered_at)
        .join(ProductDelivery, ProductDelivery.product_id == Product.id)
        .where(
            ProductDelivery.recipient_org_id == actor.org_id,
            sharing_service.readable_condition(actor, Product),
        )
        .order_by(ProductDelivery.delivered_at, Product.id)
    ).all()
    return [(product, as_utc(at)) for product, at in rows]


def _delivery(session: Session, product: Product, org_id: int | None) -> ProductDelivery | None:
    if org_id is None:
        return None
    return session.scalars(
        select(ProductDelivery).where(
            ProductDelivery.product_id == product.id, ProductDelivery.recipient_org_id == org_id
        )
    ).one_or_none()


def to_read(*, session: Session, actor: Actor, product: Product) -> ProductRead:
    recipient = session.get(Organisation, product.recipient_org_id)
    assert recipient is not None
    delivery = _delivery(session, product, actor.org_id)
    return ProductRead(
        id=product.id,
        kind=product.kind,
        version=product.version,
        country=product.country_code,
        scope=product.scope,
        recipient=recipient.slug,
        period_start=product.period_start,
        period_end=product.period_end,
        tlp=product.tlp,
        content_hash=product.content_hash,
        item_count=product.item_count,
        issued_at=product.issued_at,
        issued_by=product.issued_by,
        summary=dict(product.document.get("summary", {})),
        delivery=None
        if delivery is None
        else DeliveryRead(
            recipient=recipient.slug,
            delivered_at=delivery.delivered_at,
            read_at=delivery.read_at,
            read_by=delivery.read_by,
            acknowledged_at=delivery.acknowledged_at,
            acknowledged_by=delivery.acknowledged_by,
        ),
    )


def mark_read(*, session: Session, actor: Actor, product: Product) -> None:
    """The first reading by the recipient is recorded (and audited); later ones are not."""
    delivery = _delivery(session, product, actor.org_id)
    if delivery is None or delivery.read_at is not None:
        return
    delivery.read_at = utcnow()
    delivery.read_by = actor.label
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="product.read",
        target_type="product",
        target_id=product.id,
        details={"delivery": delivery.id},
    )


def _delivery_or_raise(session: Session, actor: Actor, product: Product) -> ProductDelivery:
    delivery = _delivery(session, product, actor.org_id)
    if delivery is None:
        raise NotFound(
            f"product {product.id} was not delivered to your organisation: only its recipient "
            "acknowledges it and gives feedback",
            field="product_id",
        )
    return delivery


def acknowledge(*, session: Session, actor: Actor, product_id: int) -> Product:
    """The recipient confirms it received the product; the first acknowledgement counts."""
    actor.require(Permission.PRODUCT_REPORT_FEEDBACK)
    product = get_or_raise(session=session, actor=actor, product_id=product_id)
    delivery = _delivery_or_raise(session, actor, product)
    if delivery.acknowledged_at is None:
        now = utcnow()
        delivery.acknowledged_at = now
        delivery.acknowledged_by = actor.label
        if delivery.read_at is None:
            delivery.read_at, delivery.read_by = now, actor.label
        session.flush()
        audit_service.record(
            session=session,
            actor=actor,
            action="product.acknowledge",
            target_type="product",
            target_id=product.id,
            details={"delivery": delivery.id},
        )
    return product


def _latest_outcomes(session: Session, item_ids: Sequence[int]) -> dict[int, str]:
    latest: dict[int, tuple[int, str]] = {}
    for chunk in _chunks(sorted(set(item_ids))):
        for row_id, item_id, outcome in session.execute(
            select(
                ProductFeedback.id, ProductFeedback.product_item_id, ProductFeedback.outcome
            ).where(ProductFeedback.product_item_id.in_(chunk))
        ):
            if row_id > latest.get(item_id, (0, ""))[0]:
                latest[item_id] = (row_id, outcome)
    return {key: value[1] for key, value in latest.items()}


def items(*, session: Session, actor: Actor, product_id: int) -> list[ProductItemRead]:
    """The items of a product the actor may read, with their latest outcome."""
    product = get_or_raise(session=session, actor=actor, product_id=product_id)
    rows = session.execute(
        select(
            ProductItem.id,
            ProductItem.threat_group,
            Observable.obs_type,
            Observable.value,
            IntelObject.id,
            IntelObject.stix_id,
        )
        .join(Observable, Observable.id == ProductItem.observable_id)
        .join(IntelObject, IntelObject.id == ProductItem.intel_object_id)
        .where(ProductItem.product_id == product.id)
        .order_by(ProductItem.id)
    ).all()
    outcomes = _latest_outcomes(session, [row[0] for row in rows])
    return [
        ProductItemRead(
            id=row[0],
            group=row[1],
            observable_type=row[2],
            value=row[3],
            record_id=row[4],
            stix_id=row[5],
            outcome=outcomes.get(row[0]),
        )
        for row in rows
    ]


def item_ids(*, session: Session, product: Product) -> dict[tuple[int, int], int]:
    """(observable id, record id) -> item id, so every format can name the item to answer."""
    return {
        (observable_id, record_id): item_id
        for item_id, observable_id, record_id in session.execute(
            select(ProductItem.id, ProductItem.observable_id, ProductItem.intel_object_id).where(
                ProductItem.product_id == product.id
            )
        )
    }


# --------------------------------------------------------------------------- feedback


def give_feedback(
    *, session: Session, actor: Actor, product_id: int, feedback_in: FeedbackIn
) -> ProductFeedback:
    """The recipient's outcome for one item. A false positive lowers the record's confidence
    and sends it back to the analysts' queue (unvalidated), so it leaves the next products."""
    actor.require(Permission.PRODUCT_REPORT_FEEDBACK)
    product = get_or_raise(session=session, actor=actor, product_id=product_id)
    _delivery_or_raise(session, actor, product)
    item = session.get(ProductItem, feedback_in.item_id)
    if item is None or item.product_id != product.id:
        raise NotFound(f"product {product.id} has no item {feedback_in.item_id}", field="item_id")
    assert actor.org_id is not None
    row = ProductFeedback(
        product_item_id=item.id,
        org_id=actor.org_id,
        outcome=feedback_in.outcome.value,
        comment=feedback_in.comment,
        created_at=utcnow(),
        created_by=actor.label,
    )
    session.add(row)
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="product.feedback",
        target_type="product_item",
        target_id=item.id,
        details={"product": product.id, "outcome": row.outcome, "feedback": row.id},
    )
    if feedback_in.outcome == Outcome.FALSE_POSITIVE:
        _false_positive(session, actor, product, item, row)
    return row


def _false_positive(
    session: Session,
    actor: Actor,
    product: Product,
    item: ProductItem,
    feedback: ProductFeedback,
) -> None:
    # The recipient cannot validate records; the effect follows from its feedback, and the
    # audit entry names it as the cause.
    record = session.get(IntelObject, item.intel_object_id)
    assert record is not None
    before = (record.status, record.confidence)
    record.confidence = max(0, record.confidence - FALSE_POSITIVE_PENALTY)
    if record.status == "validated":
        record.status = "unvalidated"
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="record.false_positive",
        target_type="intel_object",
        target_id=record.id,
        details={
            "product": product.id,
            "item": item.id,
            "feedback": feedback.id,
            "from": {"status": before[0], "confidence": before[1]},
            "to": {"status": record.status, "confidence": record.confidence},
        },
    )
    if product.issued_by_org_id is not None:
        session.add(
            Notification(
                recipient_org_id=product.issued_by_org_id,
                kind="product-feedback",
                summary=f"{actor.org_slug} reported record {record.id} of product {product.id} "
                "as a false positive: back in the validation queue",
                payload={"product_id": product.id, "item_id": item.id, "record_id": record.id},
            )
        )
        session.flush()


def list_feedback(*, session: Session, actor: Actor, product_id: int) -> list[FeedbackRead]:
    product = get_or_raise(session=session, actor=actor, product_id=product_id)
    rows = session.execute(
        select(ProductFeedback, Organisation.slug)
        .join(ProductItem, ProductItem.id == ProductFeedback.product_item_id)
        .join(Organisation, Organisation.id == ProductFeedback.org_id)
        .where(ProductItem.product_id == product.id)
        .order_by(ProductFeedback.id)
    ).all()
    return [
        FeedbackRead(
            id=row.id,
            item_id=row.product_item_id,
            organisation=slug,
            outcome=row.outcome,
            comment=row.comment,
            created_at=row.created_at,
            created_by=row.created_by,
        )
        for row, slug in rows
    ]


# --------------------------------------------------------------------------- statistics


def _hours(start: datetime, end: datetime) -> float:
    return (as_utc(end) - as_utc(start)).total_seconds() / 3600


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def covering(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    """Conditions on Product: its period overlaps [since, until) (each bound optional)."""
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(Product.period_end > since)
    if until is not None:
        conditions.append(Product.period_start < until)
    return conditions


def country_stats(
    *,
    session: Session,
    actor: Actor,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[CountryStats]:
    """Per country: products, acknowledgement latency, feedback and takedown rate; of the
    products whose period overlaps [since, until) when given, else of all."""
    actor.require(Permission.PRODUCT_REPORT_ISSUE)
    readable = and_(sharing_service.readable_condition(actor, Product), *covering(since, until))
    deliveries = session.execute(
        select(Product.country_code, Product.issued_at, ProductDelivery.acknowledged_at)
        .join(ProductDelivery, ProductDelivery.product_id == Product.id)
        .where(readable, Product.country_code.is_not(None))
    ).all()
    per_country: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"products": 0, "ack": [], "items": 0, "feedback": 0, "down": 0, "fp": 0}
    )
    for code, issued_at, acknowledged_at in deliveries:
        entry = per_country[str(code)]
        entry["products"] += 1
        if acknowledged_at is not None:
            entry["ack"].append(_hours(issued_at, acknowledged_at))
    item_rows = session.execute(
        select(Product.country_code, ProductItem.id)
        .join(ProductItem, ProductItem.product_id == Product.id)
        .where(readable, Product.country_code.is_not(None))
    ).all()
    outcomes = _latest_outcomes(session, [item_id for _, item_id in item_rows])
    for code, item_id in item_rows:
        entry = per_country[str(code)]
        entry["items"] += 1
        outcome = outcomes.get(item_id)
        if outcome is not None:
            entry["feedback"] += 1
            entry["down"] += outcome == Outcome.TAKEN_DOWN.value
            entry["fp"] += outcome == Outcome.FALSE_POSITIVE.value
    return [
        CountryStats(
            country=code,
            products=entry["products"],
            acknowledged=len(entry["ack"]),
            median_ack_hours=_median(entry["ack"]),
            items=entry["items"],
            with_feedback=entry["feedback"],
            taken_down=entry["down"],
            false_positives=entry["fp"],
            takedown_rate=round(entry["down"] / entry["items"], 4) if entry["items"] else None,
        )
        for code, entry in sorted(per_country.items())
    ]


def provider_stats(
    *,
    session: Session,
    actor: Actor,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ProviderStats]:
    """Per hosting network (AS organisation): items reported and the median time from the
    product's issue to the recipient's first "taken down" for the item; of the products whose
    period overlaps [since, until) when given, else of all."""
    actor.require(Permission.PRODUCT_REPORT_ISSUE)
    rows = session.execute(
        select(ProductItem.id, ProductItem.observable_id, Product.issued_at)
        .join(Product, Product.id == ProductItem.product_id)
        .where(sharing_service.readable_condition(actor, Product), *covering(since, until))
    ).all()
    hosting = networks(session, (row[1] for row in rows))
    taken_down: dict[int, datetime] = {}
    for chunk in _chunks(sorted({row[0] for row in rows})):
        for item_id, at in session.execute(
            select(ProductFeedback.product_item_id, func.min(ProductFeedback.created_at))
            .where(
                and_(
                    ProductFeedback.product_item_id.in_(chunk),
                    ProductFeedback.outcome == Outcome.TAKEN_DOWN.value,
                )
            )
            .group_by(ProductFeedback.product_item_id)
        ):
            taken_down[item_id] = at
    per_network: dict[str, list[float | None]] = defaultdict(list)
    for item_id, observable_id, issued_at in rows:
        name = hosting.get(observable_id)
        if name is None:
            continue
        down = taken_down.get(item_id)
        per_network[name].append(None if down is None else _hours(issued_at, down))
    result = []
    for name, values in per_network.items():
        times = [v for v in values if v is not None]
        result.append(
            ProviderStats(
                as_organisation=name,
                items=len(values),
                taken_down=len(times),
                median_takedown_hours=_median(times),
            )
        )
    result.sort(key=lambda s: (-s.items, s.as_organisation))
    return result
