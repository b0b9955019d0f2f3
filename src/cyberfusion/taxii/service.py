"""TAXII 2.1 logic: API roots and collections drawn from the sharing model, filtered and paged
reads through the sharing choke point, Add Objects through intake, and Delete by the owner.

API roots are trust groups: `members` (member-country law enforcement, the desks and the hub),
`community` (every vetted organisation) and `public` (anyone). A collection is one audience
tier of the sharing model; its content is every object version whose label has that audience
AND that `sharing_service.readable_condition` lets the actor read, so access holds per object,
not only per collection. A collection the actor does not belong to does not exist for it.

Each organisation also has a read-only collection of the products delivered to it, beside its
own collection: the STIX 2.1 form of every product (its `report` and the objects it references,
exactly as the product's STIX download gives them). The same filters, paging and version rules
apply, over the products' objects instead of stored records (`_product_page`).

Paging is keyset on (date added, record id): `date_added` is the record's `created_at` (when
the platform stored that version) and `next` encodes the last pair returned, so a page costs
the same wherever it is in the collection and a row added meanwhile never shifts another.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    ColumnElement,
    Row,
    Text,
    and_,
    case,
    cast,
    delete,
    exists,
    false,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.orm import Session, aliased

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.core.errors import (
    DomainError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from cyberfusion.core.time import utcnow
from cyberfusion.export import service as export_service
from cyberfusion.export import value_list as value_list_service
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel.models import IntelObject
from cyberfusion.product import render as product_render
from cyberfusion.product import service as product_service
from cyberfusion.registry.models import Country, Organisation, OrgKind, Region
from cyberfusion.sharing import service as sharing_service
from cyberfusion.sharing.models import Audience, SharingLabel, Tlp, strictest_tlp
from cyberfusion.sharing.schemas import LabelsIn
from cyberfusion.taxii.models import TaxiiStatus
from cyberfusion.taxii.schemas import (
    STIX_MEDIA_TYPE,
    CollectionResource,
    ManifestRecord,
    StatusDetails,
    StatusResource,
)

# Largest page a request gets, whatever `limit` it asks for (§3.4 lets the server cap it).
MAX_PAGE_SIZE = 1000
# Fixed for ever: collection ids are derived from it, and clients keep them in their settings.
COLLECTION_NAMESPACE = uuid.UUID("5b1f8c2e-6a8d-4d8e-9f3b-2c7e1a4d9b60")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadRequest(DomainError):
    """A malformed filter, paging token or query parameter (§3.4: HTTP 400)."""

    status = 400
    title = "Bad request"


class Unprocessable(DomainError):
    """A body that is not a TAXII envelope of STIX objects (§5.5: HTTP 422)."""

    status = 422
    title = "Unprocessable content"


class ApiRootName(enum.StrEnum):
    MEMBERS = "members"
    COMMUNITY = "community"
    PUBLIC = "public"


@dataclass(frozen=True)
class ApiRoot:
    name: ApiRootName
    title: str
    description: str


API_ROOTS: dict[str, ApiRoot] = {
    root.name.value: root
    for root in (
        ApiRoot(
            ApiRootName.MEMBERS,
            "Member law enforcement",
            "Collections for member-country law enforcement, the regional desks and the fusion "
            "centre: your country, your region and all members.",
        ),
        ApiRoot(
            ApiRootName.COMMUNITY,
            "Community",
            "Collections for every vetted organisation: your own organisation's and the "
            "community's (members, CERTs and private partners).",
        ),
        ApiRoot(
            ApiRootName.PUBLIC,
            "Public",
            "TLP:CLEAR advisories anyone may read, without credentials.",
        ),
    )
}


class CollectionKind(enum.StrEnum):
    """One audience tier of the sharing model, narrowest first (the collections' sort order)."""

    ORG = "org"
    COUNTRY = "country"
    REGION = "region"
    MEMBERS = "members"
    COMMUNITY = "community"
    PUBLIC = "public"
    # Not an audience: the products delivered to one organisation (read-only).
    PRODUCTS = "products"


_ROOT_OF = {
    CollectionKind.ORG: ApiRootName.COMMUNITY,
    CollectionKind.PRODUCTS: ApiRootName.COMMUNITY,
    CollectionKind.COUNTRY: ApiRootName.MEMBERS,
    CollectionKind.REGION: ApiRootName.MEMBERS,
    CollectionKind.MEMBERS: ApiRootName.MEMBERS,
    CollectionKind.COMMUNITY: ApiRootName.COMMUNITY,
    CollectionKind.PUBLIC: ApiRootName.PUBLIC,
}

# The marking an object gets when it carries none, per tier: need-to-know tiers AMBER,
# community-wide tiers GREEN, the public CLEAR (the only TLP that may be public).
_DEFAULT_TLP = {
    CollectionKind.ORG: Tlp.AMBER,
    CollectionKind.COUNTRY: Tlp.AMBER,
    CollectionKind.REGION: Tlp.AMBER,
    CollectionKind.MEMBERS: Tlp.GREEN,
    CollectionKind.COMMUNITY: Tlp.GREEN,
    CollectionKind.PUBLIC: Tlp.CLEAR,
}


def collection_key(kind: CollectionKind, scope: str | None = None) -> str:
    """`members`, `community`, `public`, `org:<slug>`, `country:<CC>` or `region:<code>`."""
    return kind.value if scope is None else f"{kind.value}:{scope}"


def collection_id(kind: CollectionKind, scope: str | None = None) -> str:
    """The collection's id: a name-based UUID, the same on every server and after restarts."""
    return str(uuid.uuid5(COLLECTION_NAMESPACE, collection_key(kind, scope)))


@dataclass(frozen=True)
class TaxiiCollection:
    kind: CollectionKind
    scope: str | None
    title: str
    description: str

    @property
    def key(self) -> str:
        return collection_key(self.kind, self.scope)

    @property
    def id(self) -> str:
        return collection_id(self.kind, self.scope)

    @property
    def alias(self) -> str:
        if self.scope is None:
            return self.kind.value
        return f"{self.kind.value}-{self.scope.lower().replace('_', '-')}"

    @property
    def api_root(self) -> ApiRootName:
        return _ROOT_OF[self.kind]


# -- who sees what --------------------------------------------------------------------------


def _is_member(actor: Actor) -> bool:
    return (actor.org_kind or "") in sharing_service.MEMBER_KINDS


def api_roots_for(actor: Actor) -> list[ApiRoot]:
    """The API roots of the trust groups the actor belongs to, widest last."""
    names = [ApiRootName.PUBLIC]
    if not actor.is_anonymous:
        names.insert(0, ApiRootName.COMMUNITY)
        if _is_member(actor):
            names.insert(0, ApiRootName.MEMBERS)
    return [API_ROOTS[name.value] for name in names]


def get_api_root_or_raise(*, actor: Actor, name: str) -> ApiRoot:
    """An API root of the actor's; another is 404, and 401 for an anonymous caller."""
    root = API_ROOTS.get(name)
    if root is not None and root in api_roots_for(actor):
        return root
    if root is not None and actor.is_anonymous:
        raise Unauthenticated(f"the API root {name!r} needs credentials")
    raise NotFound(f"no API root {name!r}")


def collections_for(*, session: Session, actor: Actor, root: ApiRoot) -> list[TaxiiCollection]:
    """The collections of one API root that the actor belongs to, in a stable order."""
    found: list[TaxiiCollection] = []
    kind = actor.org_kind or ""
    if root.name == ApiRootName.MEMBERS and _is_member(actor):
        if kind in sharing_service.LAW_ENFORCEMENT_KINDS and actor.country_code:
            country = session.get(Country, actor.country_code)
            name = country.name if country is not None else actor.country_code
            found.append(
                TaxiiCollection(
                    CollectionKind.COUNTRY,
                    actor.country_code,
                    f"Law enforcement in {name}",
                    f"Shared with the law enforcement of {name} (audience country).",
                )
            )
        if (
            kind in sharing_service.LAW_ENFORCEMENT_KINDS or kind == OrgKind.DESK.value
        ) and actor.region_code:
            region = session.get(Region, actor.region_code)
            name = region.name if region is not None else actor.region_code
            found.append(
                TaxiiCollection(
                    CollectionKind.REGION,
                    actor.region_code,
                    f"Law enforcement in {name}",
                    f"Shared with the law enforcement of the {name} region and its desk "
                    "(audience region).",
                )
            )
        found.append(
            TaxiiCollection(
                CollectionKind.MEMBERS,
                None,
                "All members",
                "Shared with all member-country law enforcement, the regional desks and the "
                "fusion centre (audience members).",
            )
        )
    elif root.name == ApiRootName.COMMUNITY and not actor.is_anonymous:
        org = session.get(Organisation, actor.org_id)
        org_name = org.name if org is not None else str(actor.org_slug)
        found.append(
            TaxiiCollection(
                CollectionKind.ORG,
                actor.org_slug,
                org_name,
                f"Kept by {org_name} for itself, or shared with it by name "
                "(audience organisation or organisations).",
            )
        )
        if actor.can(Permission.PRODUCT_REPORT_READ):
            found.append(
                TaxiiCollection(
                    CollectionKind.PRODUCTS,
                    actor.org_slug,
                    f"Products for {org_name}",
                    f"Intelligence products delivered to {org_name} (Cyber Activity Reports): "
                    "each product's STIX 2.1 report and the objects it references, as its STIX "
                    "download gives them. Read-only.",
                )
            )
        found.append(
            TaxiiCollection(
                CollectionKind.COMMUNITY,
                None,
                "Community",
                "Shared with every vetted organisation: member law enforcement, CERTs and "
                "private partners (audience community).",
            )
        )
    elif root.name == ApiRootName.PUBLIC:
        found.append(
            TaxiiCollection(
                CollectionKind.PUBLIC,
                None,
                "Public",
                "TLP:CLEAR advisories for anyone (audience public).",
            )
        )
    return found


def get_collection_or_raise(
    *, session: Session, actor: Actor, root: ApiRoot, collection_ref: str
) -> TaxiiCollection:
    """A collection of the actor's by id or alias; one it does not belong to is not found."""
    for candidate in collections_for(session=session, actor=actor, root=root):
        if collection_ref in (candidate.id, candidate.alias):
            return candidate
    raise NotFound(f"no collection {collection_ref!r} in the API root {root.name.value!r}")


def can_read(actor: Actor) -> bool:
    """Anonymous callers read the public collection; members of an organisation need the
    read permission (every role has it)."""
    return actor.is_anonymous or actor.can(Permission.INTEL_OBJECT_READ)


def can_write(actor: Actor, collection: TaxiiCollection | None = None) -> bool:
    """Every audience collection an actor sees is one its organisation may publish to; the
    products collection is written by issuing products only."""
    if collection is not None and collection.kind == CollectionKind.PRODUCTS:
        return False
    return not actor.is_anonymous and actor.can(Permission.INTEL_OBJECT_SUBMIT)


def require_read(actor: Actor, collection: TaxiiCollection) -> None:
    allowed = (
        actor.can(Permission.PRODUCT_REPORT_READ)
        if collection.kind == CollectionKind.PRODUCTS
        else can_read(actor)
    )
    if not allowed:
        raise PermissionDenied(f"you may not read objects from the collection {collection.alias}")


def require_write(actor: Actor, collection: TaxiiCollection) -> None:
    if actor.is_anonymous:
        raise Unauthenticated(f"adding objects to the collection {collection.alias} needs a key")
    if collection.kind == CollectionKind.PRODUCTS:
        raise PermissionDenied(
            f"the collection {collection.alias} is read-only: it holds the products issued to "
            "your organisation"
        )
    if not can_write(actor):
        raise PermissionDenied(
            f"the collection {collection.alias} is read-only for you: your role may not "
            "submit intelligence"
        )


def to_collection_resource(actor: Actor, collection: TaxiiCollection) -> CollectionResource:
    return CollectionResource(
        id=collection.id,
        title=collection.title,
        description=collection.description,
        alias=collection.alias,
        can_read=can_read(actor),
        can_write=can_write(actor, collection),
        media_types=[STIX_MEDIA_TYPE],
    )


# -- filters (§3.4) ---------------------------------------------------------------------------

_MATCH_KEY = re.compile(r"match\[([a-z_]+)\]")
_STIX_ID = re.compile(r"[a-z0-9][a-z0-9-]*[a-z0-9]--[0-9a-fA-F-]{36}")
_STIX_TYPE = re.compile(r"[a-z0-9][a-z0-9-]*[a-z0-9]")
_SPEC_VERSION = re.compile(r"\d\.\d")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
VERSION_KEYWORDS = ("first", "last", "all")

# The filters each endpoint supports (§5.3, 5.4, 5.6, 5.7, 5.8); others are ignored (§3.4).
MANIFEST_FILTERS = frozenset(
    {"added_after", "limit", "next", "match[id]", "match[type]", "match[version]"}
    | {"match[spec_version]"}
)
OBJECTS_FILTERS = MANIFEST_FILTERS
OBJECT_FILTERS = frozenset(
    {"added_after", "limit", "next", "match[version]", "match[spec_version]"}
)
DELETE_FILTERS = frozenset({"match[version]", "match[spec_version]"})
VERSIONS_FILTERS = frozenset({"added_after", "limit", "next", "match[spec_version]"})


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: its last (date added, record id, occurrence id), the
    occurrence id 0 for a stored record and the occurrence of a generated indicator else."""

    date_added: datetime
    record_id: int
    sub: int = 0

    def token(self) -> str:
        micros = (self.date_added - _EPOCH) // timedelta(microseconds=1)
        raw = f"{micros}:{self.record_id}" + (f":{self.sub}" if self.sub else "")
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def from_token(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            parts = [int(part) for part in raw.split(":")]
            if len(parts) not in (2, 3) or min(parts[1:]) < 0:
                raise ValueError(raw)
            return cls(_EPOCH + timedelta(microseconds=parts[0]), *parts[1:])
        except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
            raise BadRequest(
                f"next: {token!r} is not a paging token from this server; send the `next` "
                "value of the previous response unchanged"
            ) from exc


@dataclass(frozen=True)
class Filters:
    added_after: datetime | None = None
    limit: int = MAX_PAGE_SIZE
    cursor: Cursor | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    # Keywords among first/last/all, and exact versions.
    version_keywords: frozenset[str] = field(default_factory=lambda: frozenset({"last"}))
    versions: tuple[datetime, ...] = ()
    spec_versions: tuple[str, ...] = ()


def parse_timestamp(raw: str, *, name: str) -> datetime:
    """A TAXII/STIX timestamp: RFC 3339 in UTC with the Z designator (§2, `timestamp`)."""
    if not _TIMESTAMP.fullmatch(raw):
        raise BadRequest(
            f"{name}: {raw!r} is not a timestamp of the form YYYY-MM-DDTHH:MM:SS[.ssssss]Z"
        )
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{name}: {raw!r} is not a valid date and time ({exc})") from exc


def _values(name: str, raw: str) -> list[str]:
    """A comma-separated list without spaces (§3.4); an empty item is malformed."""
    items = raw.split(",")
    if any(not item.strip() for item in items):
        raise BadRequest(f"{name}: {raw!r} has an empty value; separate values with single commas")
    return [item.strip() for item in items]


def parse_filters(
    params: Sequence[tuple[str, str]], *, allowed: frozenset[str], default_version: str = "last"
) -> Filters:
    """Read the URL query parameters of one endpoint; 400 naming the parameter if malformed."""
    seen: set[str] = set()
    values: dict[str, str] = {}
    for key, value in params:
        if key in seen:
            raise BadRequest(f"{key} may appear only once in a request (§3.4)")
        seen.add(key)
        if key.startswith("match") and not _MATCH_KEY.fullmatch(key):
            raise BadRequest(f"{key!r} is not a filter: write match[<field>]=<value>")
        if key in allowed:
            values[key] = value
    found: dict[str, Any] = {}
    if "added_after" in values:
        found["added_after"] = parse_timestamp(values["added_after"], name="added_after")
    if "limit" in values:
        raw = values["limit"]
        if not raw.isdigit() or int(raw) == 0:
            raise BadRequest(f"limit: {raw!r} is not a positive integer")
        found["limit"] = min(int(raw), MAX_PAGE_SIZE)
    if "next" in values:
        found["cursor"] = Cursor.from_token(values["next"])
    if "match[id]" in values:
        ids = _values("match[id]", values["match[id]"])
        for stix_id in ids:
            if not _STIX_ID.fullmatch(stix_id):
                raise BadRequest(f"match[id]: {stix_id!r} is not a STIX id (<type>--<uuid>)")
        found["ids"] = tuple(ids)
    if "match[type]" in values:
        types = _values("match[type]", values["match[type]"])
        for name in types:
            if not _STIX_TYPE.fullmatch(name):
                raise BadRequest(f"match[type]: {name!r} is not a STIX type name")
        found["types"] = tuple(types)
    if "match[spec_version]" in values:
        specs = _values("match[spec_version]", values["match[spec_version]"])
        for spec in specs:
            if not _SPEC_VERSION.fullmatch(spec):
                raise BadRequest(f"match[spec_version]: {spec!r} is not a version such as 2.1")
        found["spec_versions"] = tuple(specs)
    raw_versions = values.get("match[version]", default_version)
    items = _values("match[version]", raw_versions)
    if len(set(items)) != len(items):
        raise BadRequest(f"match[version]: {raw_versions!r} repeats a value (§3.4.1)")
    if "all" in items and len(items) > 1:
        raise BadRequest("match[version]: 'all' may not be combined with other versions")
    found["version_keywords"] = frozenset(item for item in items if item in VERSION_KEYWORDS)
    found["versions"] = tuple(
        parse_timestamp(item, name="match[version]")
        for item in items
        if item not in VERSION_KEYWORDS
    )
    return Filters(**found)


# -- reads ------------------------------------------------------------------------------------


def _tier_condition(collection: TaxiiCollection) -> ColumnElement[bool]:
    label = SharingLabel
    if collection.kind == CollectionKind.ORG:
        # Only the actor's own organisation sees this collection, and the sharing filter
        # narrows it to what that organisation keeps or was named in.
        return label.audience.in_((Audience.ORGANISATION.value, Audience.ORGANISATIONS.value))
    if collection.kind == CollectionKind.COUNTRY:
        return and_(
            label.audience == Audience.COUNTRY.value, label.audience_country == collection.scope
        )
    if collection.kind == CollectionKind.REGION:
        return and_(
            label.audience == Audience.REGION.value, label.audience_region == collection.scope
        )
    return label.audience == Audience(collection.kind.value).value


def _scope(actor: Actor, collection: TaxiiCollection, model: Any) -> list[ColumnElement[bool]]:
    """The collection's rows for this actor: the tier, and the sharing choke point."""
    return [
        model.label_id.in_(select(SharingLabel.id).where(_tier_condition(collection))),
        sharing_service.readable_condition(actor, model),
    ]


@dataclass(frozen=True)
class _LabelNotIndexed:
    """A labelled table as the choke point reads it (`model.label_id`), its label written
    `label_id + 0`: the same values and the same rules, but an expression SQLite cannot look
    up in the label index. Without statistics SQLite otherwise fetches a page by label, i.e.
    every row of the collection, checks and sorts them all, and keeps 1,000: the query took
    300 ms a page for a collection of 66,000 rows in a table of 200,000, against 6 ms walking
    the date-added index. PostgreSQL picks its plan from statistics and gets the plain column.
    """

    label_id: ColumnElement[int]


def _version_condition(
    actor: Actor, collection: TaxiiCollection, filters: Filters
) -> ColumnElement[bool]:
    """Which versions of each object the request selects (§3.4.1 `version`, `spec_version`).

    A row is "last" when no other readable row of the same object in the collection is newer.
    Two organisations may hold the same version of one object: the one stored first stands
    for it, so each version appears once. Without a `spec_version` filter only the latest
    specification version of each object counts. Computed over the whole collection, never
    over one page, so that paging and `added_after` cannot turn an old version into "last".
    """
    row = IntelObject
    other = aliased(IntelObject, name="other_version")
    if filters.spec_versions:
        higher_spec: ColumnElement[bool] = false()
        same_spec: ColumnElement[bool] = true()
        spec_scope = [other.spec_version.in_(filters.spec_versions)]
    else:
        higher_spec = other.spec_version > row.spec_version
        same_spec = other.spec_version == row.spec_version
        spec_scope = []

    def none_of_the_other_rows(extra: ColumnElement[bool]) -> ColumnElement[bool]:
        return ~exists().where(
            other.stix_id == row.stix_id,
            *_scope(actor, collection, other),
            *spec_scope,
            or_(higher_spec, and_(same_spec, extra)),
        )

    twin = and_(other.modified == row.modified, other.id < row.id)
    options: list[ColumnElement[bool]] = []
    if "all" in filters.version_keywords:
        options.append(none_of_the_other_rows(twin))
    if "last" in filters.version_keywords:
        options.append(none_of_the_other_rows(or_(other.modified > row.modified, twin)))
    if "first" in filters.version_keywords:
        options.append(none_of_the_other_rows(or_(other.modified < row.modified, twin)))
    if filters.versions:
        options.append(and_(row.modified.in_(filters.versions), none_of_the_other_rows(twin)))
    return or_(*options)


class Item(NamedTuple):
    """One object version of a page: a stored record (`sub` 0), or the indicator generated from
    occurrence `sub` of a value-list grouping (export/value_list.py), placed right after its
    grouping in date-added order."""

    created_at: datetime
    record_id: int
    sub: int
    stix_id: str
    modified: datetime
    spec_version: str
    # The object as JSON, when the endpoint serves content (stored text, not re-serialised).
    content: bytes | None


@dataclass(frozen=True)
class Page:
    """One page of object versions in date-added order, and whether more follow."""

    items: list[Item]
    more: bool

    @property
    def next(self) -> str | None:
        if not self.more:
            return None
        last = self.items[-1]
        return Cursor(last.created_at, last.record_id, last.sub).token()

    @property
    def date_added_first(self) -> datetime | None:
        return self.items[0].created_at if self.items else None

    @property
    def date_added_last(self) -> datetime | None:
        return self.items[-1].created_at if self.items else None


@dataclass(frozen=True)
class _Wanted:
    """Which objects the id and type filters let through, stored or generated."""

    types: frozenset[str] | None
    ids: frozenset[str] | None

    @classmethod
    def of(cls, filters: Filters, object_id: str | None) -> _Wanted:
        ids: frozenset[str] | None = frozenset(filters.ids) if filters.ids else None
        if object_id is not None:
            ids = frozenset({object_id}) & ids if ids is not None else frozenset({object_id})
        return cls(frozenset(filters.types) if filters.types else None, ids)

    def record(self, stix_type: str, stix_id: str) -> bool:
        return (self.types is None or stix_type in self.types) and (
            self.ids is None or stix_id in self.ids
        )

    @property
    def generated(self) -> bool:
        """Whether generated indicators can pass at all."""
        return (self.types is None or "indicator" in self.types) and (
            self.ids is None or any(i.startswith("indicator--") for i in self.ids)
        )


def _statement(
    *,
    session: Session,
    actor: Actor,
    collection: TaxiiCollection,
    filters: Filters,
    wanted: _Wanted,
    with_content: bool,
    after: tuple[datetime, int] | None,
    record_id: int | None,
    limit: int,
) -> Any:
    row = IntelObject
    walk_date_index = (
        record_id is None and wanted.ids is None and session.get_bind().dialect.name == "sqlite"
    )
    labelled: Any = _LabelNotIndexed(row.label_id + 0) if walk_date_index else row
    conditions = _scope(actor, collection, labelled)
    value_list = value_list_service.value_list_condition(row)
    # A value-list grouping stands for its generated indicators too: it is read whenever they
    # may pass the filters, even when the grouping itself does not.
    if wanted.ids is not None:
        by_id = row.stix_id.in_(sorted(wanted.ids))
        conditions.append(or_(by_id, value_list) if wanted.generated else by_id)
    if wanted.types is not None:
        by_type = row.stix_type.in_(sorted(wanted.types))
        conditions.append(or_(by_type, value_list) if wanted.generated else by_type)
    if filters.spec_versions:
        conditions.append(row.spec_version.in_(filters.spec_versions))
    conditions.append(_version_condition(actor, collection, filters))
    if filters.added_after is not None:
        conditions.append(row.created_at > filters.added_after)
    if after is not None:
        # A range of the (created_at, id) index: the page starts where the last one ended.
        conditions.append(tuple_(row.created_at, row.id) > tuple_(*after))
    if record_id is not None:
        conditions.append(row.id == record_id)
    text = cast(row.content, Text)
    columns: list[Any] = [
        row.id,
        row.stix_id,
        row.stix_type,
        row.created_at,
        row.modified,
        row.spec_version,
        value_list.label("value_list"),
        # The stored JSON text, served as it is; a value-list grouping's always, as its
        # indicators are made from it.
        (text if with_content else case((value_list, text), else_=None)).label("content"),
        # A value list's grouping (and so its indicators) carries the record's current TLP,
        # as the export gives it: intake stores the grouping without markings.
        case(
            (
                value_list,
                select(SharingLabel.tlp).where(SharingLabel.id == row.label_id).scalar_subquery(),
            ),
            else_=None,
        ).label("tlp"),
    ]
    return select(*columns).where(*conditions).order_by(row.created_at, row.id).limit(limit)


def _record_item(row: Row[Any], content: bytes | None) -> Item:
    return Item(row.created_at, row.id, 0, row.stix_id, row.modified, row.spec_version, content)


def _grouping(row: Row[Any]) -> dict[str, Any]:
    grouping: dict[str, Any] = orjson.loads(row.content)
    return export_service.with_tlp_marking(grouping, Tlp(row.tlp))


def _generated(
    *,
    session: Session,
    actor: Actor,
    row: Row[Any],
    wanted: _Wanted,
    with_content: bool,
    after: int,
    limit: int,
) -> Iterator[Item]:
    """The indicators of a value-list grouping's readable occurrences after occurrence `after`,
    at most `limit` of those the filters let through."""
    grouping = _grouping(row)
    # The indicators' version is the grouping's `modified` as its content states it (STIX
    # milliseconds; the record keeps the microseconds of when the list was received).
    version = row.modified.replace(microsecond=row.modified.microsecond // 1000 * 1000)
    found = 0
    for listed in value_list_service.listed(
        session=session,
        actor=actor,
        record_id=row.id,
        after=after,
        # Without an id filter every occurrence gives one item: read no more than needed.
        limit=limit if wanted.ids is None else None,
    ):
        made = value_list_service.indicator(grouping, listed)
        if made is None or not wanted.record("indicator", made["id"]):
            continue
        content = orjson.dumps(made) if with_content else None
        yield Item(
            row.created_at, row.id, listed.occurrence_id, made["id"], version, "2.1", content
        )
        found += 1
        if found >= limit:
            return


def _grouping_content(session: Session, actor: Actor, row: Row[Any]) -> bytes:
    """A value-list grouping with the ids of its generated indicators in `object_refs`."""
    grouping = _grouping(row)
    ids = value_list_service.generated_ids(
        session=session, actor=actor, grouping=grouping, record_id=row.id
    )
    return b"".join(value_list_service.grouping_chunks(grouping, ids))


def _page(
    *,
    session: Session,
    actor: Actor,
    collection: TaxiiCollection,
    filters: Filters,
    with_content: bool,
    object_id: str | None = None,
) -> Page:
    wanted = _Wanted.of(filters, object_id)
    want = filters.limit + 1
    items: list[Item] = []

    def statement(after: tuple[datetime, int] | None, record_id: int | None, limit: int) -> Any:
        return _statement(
            session=session,
            actor=actor,
            collection=collection,
            filters=filters,
            wanted=wanted,
            with_content=with_content,
            after=after,
            record_id=record_id,
            limit=limit,
        )

    def take(row: Row[Any], after_sub: int) -> None:
        if not row.value_list:
            content = row.content.encode() if with_content else None
            items.append(_record_item(row, content))
            return
        if after_sub == 0 and wanted.record(row.stix_type, row.stix_id):
            content = _grouping_content(session, actor, row) if with_content else None
            items.append(_record_item(row, content))
        if wanted.generated and len(items) < want:
            items.extend(
                _generated(
                    session=session,
                    actor=actor,
                    row=row,
                    wanted=wanted,
                    with_content=with_content,
                    after=after_sub,
                    limit=want - len(items),
                )
            )

    cursor = filters.cursor
    after = None if cursor is None else (cursor.date_added, cursor.record_id)
    if cursor is not None and cursor.sub:
        # The last page ended inside a value list: its remaining indicators come first.
        for row in session.connection().execute(statement(None, cursor.record_id, 1)).all():
            take(row, cursor.sub)
    while len(items) < want:
        size = want - len(items)
        # Core rows, not ORM results: a page has a thousand of them.
        rows = session.connection().execute(statement(after, None, size)).all()
        for row in rows:
            take(row, 0)
            if len(items) >= want:
                break
        if len(rows) < size:
            break
        after = (rows[-1].created_at, rows[-1].id)
    return Page(items=items[: filters.limit], more=len(items) > filters.limit)


def _object_exists(
    *, session: Session, actor: Actor, collection: TaxiiCollection, object_id: str
) -> bool:
    found = session.scalar(
        select(IntelObject.id)
        .where(IntelObject.stix_id == object_id, *_scope(actor, collection, IntelObject))
        .limit(1)
    )
    return found is not None


# -- the products collection ------------------------------------------------------------------


def _stix_version(obj: dict[str, Any]) -> datetime:
    for name in ("modified", "created"):
        value = obj.get(name)
        if isinstance(value, str):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return _EPOCH


@dataclass(frozen=True)
class _ProductObject:
    item: Item  # record_id: the product's id; sub: the object's place in its bundle, from 1
    stix_type: str
    content: dict[str, Any]


def _product_objects(session: Session, actor: Actor) -> list[_ProductObject]:
    """Every object version of the products delivered to the actor's organisation, in
    date-added order: (delivery time, product, place in the product's STIX bundle). A version
    that several products carry (a record, a marking definition) stands once, for the first."""
    found: list[_ProductObject] = []
    seen: set[tuple[str, datetime]] = set()
    for product, delivered_at in product_service.delivered(session=session, actor=actor):
        bundle = product_render.render_stix(session=session, product=product)
        for position, obj in enumerate(bundle["objects"], start=1):
            version = _stix_version(obj)
            if (obj["id"], version) in seen:
                continue
            seen.add((obj["id"], version))
            spec = str(obj.get("spec_version", "2.0"))
            item = Item(delivered_at, product.id, position, obj["id"], version, spec, None)
            found.append(_ProductObject(item, str(obj["type"]), obj))
    return found


def _selected_versions(objects: list[_ProductObject], filters: Filters) -> list[_ProductObject]:
    """§3.4.1 `version` and `spec_version` over the whole collection, as `_version_condition`
    does for stored records."""
    by_id: dict[str, list[_ProductObject]] = {}
    for obj in objects:
        if not filters.spec_versions or obj.item.spec_version in filters.spec_versions:
            by_id.setdefault(obj.item.stix_id, []).append(obj)
    chosen: set[tuple[str, datetime]] = set()
    for stix_id, versions in by_id.items():
        if not filters.spec_versions:
            # Only the latest specification version of each object counts.
            top = max(v.item.spec_version for v in versions)
            versions = [v for v in versions if v.item.spec_version == top]
        moments = sorted({v.item.modified for v in versions})
        wanted: set[datetime] = set()
        if "all" in filters.version_keywords:
            wanted.update(moments)
        if "last" in filters.version_keywords:
            wanted.add(moments[-1])
        if "first" in filters.version_keywords:
            wanted.add(moments[0])
        wanted.update(moment for moment in filters.versions if moment in moments)
        chosen.update((stix_id, moment) for moment in wanted)
    return [obj for obj in objects if (obj.item.stix_id, obj.item.modified) in chosen]


def _product_page(
    *,
    session: Session,
    actor: Actor,
    filters: Filters,
    with_content: bool,
    object_id: str | None = None,
) -> Page:
    """A page of the products collection. Serving content records the reading of every
    product it comes from, as the inbox's download does."""
    wanted = _Wanted.of(filters, object_id)
    cursor = filters.cursor
    after = None if cursor is None else (cursor.date_added, cursor.record_id, cursor.sub)
    selected: list[_ProductObject] = []
    for obj in _selected_versions(_product_objects(session, actor), filters):
        item = obj.item
        if not wanted.record(obj.stix_type, item.stix_id):
            continue
        if filters.added_after is not None and item.created_at <= filters.added_after:
            continue
        if after is not None and (item.created_at, item.record_id, item.sub) <= after:
            continue
        selected.append(obj)
        if len(selected) > filters.limit:
            break
    page = selected[: filters.limit]
    if with_content:
        products = {p.id: p for p, _ in product_service.delivered(session=session, actor=actor)}
        for product_id in sorted({obj.item.record_id for obj in page}):
            product_service.mark_read(session=session, actor=actor, product=products[product_id])
    items = [
        obj.item._replace(content=orjson.dumps(obj.content) if with_content else None)
        for obj in page
    ]
    return Page(items=items, more=len(selected) > filters.limit)


def _read_page(
    *,
    session: Session,
    actor: Actor,
    collection: TaxiiCollection,
    filters: Filters,
    with_content: bool,
    object_id: str | None = None,
) -> Page:
    """A page of any collection: stored records, or the products delivered to the actor."""
    if collection.kind == CollectionKind.PRODUCTS:
        return _product_page(
            session=session,
            actor=actor,
            filters=filters,
            with_content=with_content,
            object_id=object_id,
        )
    return _page(
        session=session,
        actor=actor,
        collection=collection,
        filters=filters,
        with_content=with_content,
        object_id=object_id,
    )


def _exists(*, session: Session, actor: Actor, collection: TaxiiCollection, object_id: str) -> bool:
    if collection.kind == CollectionKind.PRODUCTS:
        return any(obj.item.stix_id == object_id for obj in _product_objects(session, actor))
    return _object_exists(session=session, actor=actor, collection=collection, object_id=object_id)


def manifest(
    *, session: Session, actor: Actor, collection: TaxiiCollection, filters: Filters
) -> Page:
    """§5.3: one manifest record per selected object version."""
    require_read(actor, collection)
    return _read_page(
        session=session, actor=actor, collection=collection, filters=filters, with_content=False
    )


def objects(
    *, session: Session, actor: Actor, collection: TaxiiCollection, filters: Filters
) -> Page:
    """§5.4: the selected object versions, content included."""
    require_read(actor, collection)
    return _read_page(
        session=session, actor=actor, collection=collection, filters=filters, with_content=True
    )


def get_object(
    *,
    session: Session,
    actor: Actor,
    collection: TaxiiCollection,
    object_id: str,
    filters: Filters,
) -> Page:
    """§5.6: the selected versions of one object; 404 when the collection holds none of it
    that the actor may read (an unreadable object and a missing one look the same)."""
    require_read(actor, collection)
    page = _read_page(
        session=session,
        actor=actor,
        collection=collection,
        filters=filters,
        with_content=True,
        object_id=object_id,
    )
    if not page.items and not _exists(
        session=session, actor=actor, collection=collection, object_id=object_id
    ):
        raise NotFound(f"no object {object_id} in the collection {collection.alias}")
    return page


def object_versions(
    *,
    session: Session,
    actor: Actor,
    collection: TaxiiCollection,
    object_id: str,
    filters: Filters,
) -> Page:
    """§5.8: every version of one object, in date-added order."""
    require_read(actor, collection)
    every = Filters(
        added_after=filters.added_after,
        limit=filters.limit,
        cursor=filters.cursor,
        version_keywords=frozenset({"all"}),
        spec_versions=filters.spec_versions,
    )
    page = _read_page(
        session=session,
        actor=actor,
        collection=collection,
        filters=every,
        with_content=False,
        object_id=object_id,
    )
    if not page.items and not _exists(
        session=session, actor=actor, collection=collection, object_id=object_id
    ):
        raise NotFound(f"no object {object_id} in the collection {collection.alias}")
    return page


# -- formats ----------------------------------------------------------------------------------


def taxii_timestamp(value: datetime) -> str:
    """TAXII timestamps carry microseconds and the Z designator (§2, `timestamp`)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stix_timestamp(value: datetime) -> str:
    """A STIX version string: milliseconds, or microseconds when the value has them."""
    value = value.astimezone(UTC)
    if value.microsecond % 1000:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def manifest_record(item: Item) -> ManifestRecord:
    return ManifestRecord(
        id=item.stix_id,
        date_added=taxii_timestamp(item.created_at),
        version=stix_timestamp(item.modified),
        media_type=f"application/stix+json;version={item.spec_version}",
    )


# -- writes -----------------------------------------------------------------------------------


def _object_version(obj: Any) -> str:
    if isinstance(obj, dict):
        for name in ("modified", "created"):
            value = obj.get(name)
            if isinstance(value, str):
                return value
    # Objects without timestamps (SCOs) are one version for ever; the stored version says so.
    return stix_timestamp(_EPOCH)


def _object_name(obj: Any, position: int) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("id"), str):
        return str(obj["id"])
    return f"objects[{position}]"


def _tier_refusal(obj: Any, collection: TaxiiCollection) -> str | None:
    """Why an object's own TLP marking keeps it out of this collection, if it does. Intake
    would narrow such an object to another audience; refusing it keeps every success in the
    collection it was sent to."""
    if not isinstance(obj, dict):
        return None
    tlp = strictest_tlp(obj.get("object_marking_refs"))
    if tlp is None:
        return None
    if tlp == Tlp.RED:
        return (
            "TLP:RED goes only to organisations the owner names; a collection is an audience, "
            "so share it through the REST API with audience organisations"
        )
    if tlp == Tlp.AMBER_STRICT and collection.kind != CollectionKind.ORG:
        return (
            "TLP:AMBER+STRICT stays inside your organisation: add it to your organisation's "
            "collection"
        )
    if collection.kind == CollectionKind.PUBLIC and tlp != Tlp.CLEAR:
        return (
            f"only TLP:CLEAR objects may be public; this one is TLP:{tlp.value.upper()}: add it "
            "to the community or a narrower collection"
        )
    return None


def _labels(collection: TaxiiCollection) -> LabelsIn:
    audience = {
        CollectionKind.ORG: Audience.ORGANISATION,
        CollectionKind.COUNTRY: Audience.COUNTRY,
        CollectionKind.REGION: Audience.REGION,
        CollectionKind.MEMBERS: Audience.MEMBERS,
        CollectionKind.COMMUNITY: Audience.COMMUNITY,
        CollectionKind.PUBLIC: Audience.PUBLIC,
    }[collection.kind]
    return LabelsIn(
        tlp=_DEFAULT_TLP[collection.kind],
        audience=audience,
        audience_country=collection.scope if collection.kind == CollectionKind.COUNTRY else None,
        audience_region=collection.scope if collection.kind == CollectionKind.REGION else None,
    )


def read_envelope(body: bytes) -> list[Any]:
    """The objects of a TAXII envelope (§3.7), or of a STIX bundle, which some clients send;
    422 naming what is wrong otherwise."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Unprocessable(f"the body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise Unprocessable(
            f"the body must be a TAXII envelope (a JSON object), not a JSON "
            f"{type(document).__name__}"
        )
    objects = document.get("objects")
    if not isinstance(objects, list) or not objects:
        raise Unprocessable(
            "the envelope needs an `objects` list with at least one STIX object (§3.7)"
        )
    return objects


@dataclass
class _Outcome:
    success: bool = True
    messages: list[str] = field(default_factory=list)


def add_objects(
    *,
    session: Session,
    actor: Actor,
    root: ApiRoot,
    collection: TaxiiCollection,
    body: bytes,
    request_timestamp: datetime,
) -> TaxiiStatus:
    """§5.5: store the envelope's objects under the collection's audience through intake (every
    valid object, whatever the others do) and record the status of each object."""
    require_write(actor, collection)
    assert actor.org_id is not None
    objects = read_envelope(body)
    outcomes: dict[int, _Outcome] = {}
    sent: list[Any] = []
    positions: list[int] = []
    for position, obj in enumerate(objects):
        refusal = _tier_refusal(obj, collection)
        if refusal is not None:
            outcomes[position] = _Outcome(
                success=False, messages=[f"object_marking_refs: {refusal}"]
            )
        else:
            sent.append(obj)
            positions.append(position)
    submission_id: int | None = None
    if sent:
        # A fresh bundle id each time: a re-sent envelope is checked object by object (exact
        # repeats are duplicates, so successes) instead of replaying an earlier answer, which
        # would hide that an object deleted meanwhile was not stored again.
        raw = orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": sent})
        answer = intake_service.submit(
            session=session,
            actor=actor,
            raw=raw,
            options=SubmissionOptions(
                source_format=SourceFormat.STIX, labels=_labels(collection), partial=True
            ),
        )
        submission_id = answer.id
        for result in answer.results:
            match = re.fullmatch(r"object (\d+)", result.source)
            targets = [positions[int(match.group(1))]] if match else positions
            for position in targets:
                outcome = outcomes.setdefault(position, _Outcome())
                if result.status == "duplicate":
                    outcome.messages.append("already stored: the same version, the same content")
                elif result.status != "accepted":
                    outcome.success = False
                    reason = result.reason or result.status
                    outcome.messages.append(
                        f"{result.property}: {reason}" if result.property else reason
                    )
    successes: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for position, obj in enumerate(objects):
        outcome = outcomes.get(position) or _Outcome(
            success=False, messages=["intake gave no answer for this object"]
        )
        details = StatusDetails(
            id=_object_name(obj, position),
            version=_object_version(obj),
            message="; ".join(outcome.messages) or None,
        ).wire()
        (successes if outcome.success else failures).append(details)
    status = TaxiiStatus(
        id=str(uuid.uuid4()),
        api_root=root.name.value,
        collection_id=collection.id,
        org_id=actor.org_id,
        user_id=actor.user_id,
        submission_id=submission_id,
        status="complete",
        request_timestamp=request_timestamp,
        total_count=len(objects),
        success_count=len(successes),
        failure_count=len(failures),
        pending_count=0,
        details={"successes": successes, "failures": failures, "pendings": []},
        created_at=utcnow(),
    )
    session.add(status)
    session.flush()
    return status


def get_status_or_raise(
    *, session: Session, actor: Actor, root: ApiRoot, status_id: str
) -> TaxiiStatus:
    """§4.3: a status of a request the actor's organisation made to this API root."""
    status = session.get(TaxiiStatus, status_id)
    if (
        status is None
        or actor.is_anonymous
        or status.org_id != actor.org_id
        or status.api_root != root.name.value
    ):
        raise NotFound(f"no status {status_id!r} in the API root {root.name.value!r}")
    return status


def to_status_resource(status: TaxiiStatus) -> StatusResource:
    details = status.details

    def listed(name: str) -> list[StatusDetails] | None:
        items = details.get(name) or []
        return [StatusDetails.model_validate(item) for item in items] or None

    return StatusResource(
        id=status.id,
        status=status.status,
        request_timestamp=taxii_timestamp(status.request_timestamp),
        total_count=status.total_count,
        success_count=status.success_count,
        successes=listed("successes"),
        failure_count=status.failure_count,
        failures=listed("failures"),
        pending_count=status.pending_count,
        pendings=listed("pendings"),
    )


def delete_object(
    *,
    session: Session,
    actor: Actor,
    collection: TaxiiCollection,
    object_id: str,
    filters: Filters,
) -> list[int]:
    """§5.7: delete the selected versions of an object from the collection. Only the owner
    organisation may; another that can read it gets 403, one that cannot 404. Occurrences go
    with the records (ON DELETE CASCADE). Returns the deleted record ids."""
    require_read(actor, collection)
    require_write(actor, collection)
    row = IntelObject
    conditions = [row.stix_id == object_id, *_scope(actor, collection, row)]
    if filters.spec_versions:
        conditions.append(row.spec_version.in_(filters.spec_versions))
    visible = session.execute(
        select(row.id, row.owner_org_id, row.modified).where(*conditions).order_by(row.id)
    ).all()
    if not visible:
        raise NotFound(f"no object {object_id} in the collection {collection.alias}")
    modified = sorted({r.modified for r in visible})
    chosen: set[datetime] = set()
    if "all" in filters.version_keywords:
        chosen.update(modified)
    if "first" in filters.version_keywords:
        chosen.add(modified[0])
    if "last" in filters.version_keywords:
        chosen.add(modified[-1])
    chosen.update(v for v in filters.versions if v in modified)
    selected = [r for r in visible if r.modified in chosen]
    if not selected:
        raise NotFound(f"no version of {object_id} in the collection matches match[version]")
    own = [r for r in selected if r.owner_org_id == actor.org_id]
    if not own:
        owners = sorted(_org_slug(session, org_id) for org_id in {r.owner_org_id for r in selected})
        raise PermissionDenied(
            f"only the owner organisation ({', '.join(owners)}) may delete {object_id}"
        )
    record_ids = [r.id for r in own]
    session.execute(delete(IntelObject).where(IntelObject.id.in_(record_ids)))
    audit_service.record(
        session=session,
        actor=actor,
        action="record.delete",
        target_type="intel_object",
        target_id=object_id,
        details={
            "via": "taxii",
            "collection": collection.key,
            "record_ids": record_ids,
            "versions": sorted({stix_timestamp(r.modified) for r in own}),
        },
    )
    return record_ids


def _org_slug(session: Session, org_id: int) -> str:
    org = session.get(Organisation, org_id)
    return org.slug if org is not None else str(org_id)
