"""TAXII 2.1 endpoints under /taxii2/ (OASIS Standard, 10 June 2021).

Each endpoint follows the steps of the section it implements, in the order the OASIS reference
server (medallion) takes them: the Accept header, the API root, the collection, the permission,
then the work. Errors on these routes are TAXII error messages (§3.6.1) served with the TAXII
media type, not the RFC 9457 problems of /api/v1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from cyberfusion.account.schemas import Actor
from cyberfusion.api.deps import get_optional_actor, get_session
from cyberfusion.core import config
from cyberfusion.core.errors import DomainError
from cyberfusion.core.time import utcnow
from cyberfusion.taxii import service as taxii_service
from cyberfusion.taxii.schemas import (
    STIX_MEDIA_TYPE,
    TAXII_MEDIA_TYPE,
    ApiRootResource,
    CollectionsResource,
    Discovery,
    ErrorMessage,
    ManifestResource,
    VersionsResource,
)

PREFIX = "/taxii2"
WWW_AUTHENTICATE = 'Basic realm="cyberfusion TAXII", Bearer realm="cyberfusion"'
_TAXII = "application/taxii+json"
_STIX = "application/stix+json"

router = APIRouter(prefix=PREFIX, include_in_schema=False)


class TaxiiError(Exception):
    """An HTTP error answered with a TAXII error message (§3.6.1)."""

    def __init__(
        self,
        status: int,
        title: str,
        description: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.title = title
        self.description = description
        self.headers = headers or {}

    @classmethod
    def from_domain(cls, exc: DomainError) -> TaxiiError:
        headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if exc.status == 401 else None
        return cls(exc.status, exc.title, exc.detail, headers=headers)


class NotAcceptable(DomainError):
    status = 406
    title = "Not acceptable"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"


@contextmanager
def _taxii_errors() -> Iterator[None]:
    """Domain errors raised by the steps of an endpoint leave as TAXII errors. Re-raising (not
    returning a response) lets the request's transaction roll back on the way out."""
    try:
        yield
    except DomainError as exc:
        raise TaxiiError.from_domain(exc) from exc


# The transaction ends when the endpoint returns, before the answer leaves (FastAPI's default
# ends it after): a client that reads right after its write, as taxii2-client does after a
# POST or a DELETE, finds the write committed.
TaxiiSession = Annotated[Session, Depends(get_session, scope="function")]


def _taxii_actor(request: Request, session: TaxiiSession) -> Actor:
    """Bearer key, or HTTP Basic with the key as password (§1.6.9); no credentials is the
    public. Bad credentials are a TAXII 401."""
    try:
        return get_optional_actor(request, session)
    except DomainError as exc:
        raise TaxiiError.from_domain(exc) from exc


TaxiiActor = Annotated[Actor, Depends(_taxii_actor)]


def install(app: FastAPI) -> None:
    """Mount the TAXII routes and answer their errors as TAXII error messages."""

    async def _error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TaxiiError)
        body = ErrorMessage(
            title=exc.title, description=exc.description, http_status=str(exc.status)
        ).wire()
        return Response(
            orjson.dumps(body),
            status_code=exc.status,
            media_type=TAXII_MEDIA_TYPE,
            headers=exc.headers,
        )

    app.add_exception_handler(TaxiiError, _error)
    app.include_router(router)


# -- content negotiation (§1.6.8, §3.1) -------------------------------------------------------


def _media_ranges(header: str) -> list[tuple[str, dict[str, str]]]:
    ranges = []
    for part in header.split(","):
        pieces = [piece.strip() for piece in part.split(";")]
        if not pieces[0]:
            continue
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            name, sep, value = piece.partition("=")
            if sep:
                params[name.strip().lower()] = value.strip().strip('"')
        ranges.append((pieces[0].lower(), params))
    return ranges


def _refused(params: dict[str, str]) -> bool:
    """A media range with weight q=0 means "not this one" (RFC 7231 §5.3.1)."""
    try:
        return float(params.get("q", "1")) == 0
    except ValueError:
        return False


def _require_accept(request: Request, *, stix: bool = False) -> None:
    """§3.1: the Accept header includes a TAXII 2.1 media range (on the object endpoints the
    STIX 2.1 media type is accepted too; the answer is a TAXII envelope either way)."""
    header = request.headers.get("accept", "")
    wanted = (_TAXII, _STIX) if stix else (_TAXII,)
    for mime, params in _media_ranges(header):
        if _refused(params):
            continue
        if mime in wanted and params.get("version") in (None, "2.1"):
            return
    offered = f"{TAXII_MEDIA_TYPE}" + (f" or {STIX_MEDIA_TYPE}" if stix else "")
    raise NotAcceptable(
        f"this server speaks TAXII 2.1: the Accept header must include {offered} (got {header!r})"
    )


def _require_content_type(request: Request) -> None:
    """§5.5: an envelope comes as the TAXII media type (a STIX bundle as the STIX one)."""
    header = request.headers.get("content-type", "")
    ranges = _media_ranges(header)
    if len(ranges) == 1:
        mime, params = ranges[0]
        if mime in (_TAXII, _STIX) and params.get("version") in (None, "2.1"):
            return
    raise UnsupportedMediaType(
        f"send the envelope as Content-Type {TAXII_MEDIA_TYPE} (got {header!r})"
    )


@dataclass(frozen=True)
class _Body:
    data: bytes
    too_large: bool


async def _read_body(request: Request) -> _Body:
    """Read at most max_content_length bytes; the endpoint answers 413 in its own turn."""
    limit = config.get_settings().max_submission_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _Body(b"", True)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _Body(b"", True)
        chunks.append(chunk)
    return _Body(b"".join(chunks), False)


def _taxii(
    body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type=TAXII_MEDIA_TYPE, headers=headers
    )


def _date_added_headers(page: taxii_service.Page) -> dict[str, str]:
    """§3.2: X-TAXII-Date-Added-First/-Last, the date added of the first and last object."""
    first, last = page.date_added_first, page.date_added_last
    if first is None or last is None:
        return {}
    return {
        "X-TAXII-Date-Added-First": taxii_service.taxii_timestamp(first),
        "X-TAXII-Date-Added-Last": taxii_service.taxii_timestamp(last),
    }


def _root_url(request: Request, name: str) -> str:
    return f"{request.scope.get('root_path', '')}{PREFIX}/{name}/"


# -- §4 Server information --------------------------------------------------------------------


@router.get("/")
def discovery(request: Request, actor: TaxiiActor) -> Response:
    """Server Discovery, TAXII 2.1 §4.1:
    https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html#_Toc31107526

    The API roots listed are the trust groups the caller belongs to; the narrowest is the
    default."""
    with _taxii_errors():
        _require_accept(request)
        roots = taxii_service.api_roots_for(actor)
        urls = [_root_url(request, root.name.value) for root in roots]
        return _taxii(
            Discovery(
                title="cyberfusion TAXII 2.1",
                description=(
                    "Threat intelligence shared under the owners' rules: each API root is a "
                    "trust group, each collection an audience."
                ),
                default=urls[0],
                api_roots=urls,
            ).wire()
        )


@router.get("/{api_root}/")
def api_root_information(request: Request, actor: TaxiiActor, api_root: str) -> Response:
    """Get API Root Information, TAXII 2.1 §4.2:
    https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html#_Toc31107528
    """
    with _taxii_errors():
        _require_accept(request)
        root = taxii_service.get_api_root_or_raise(actor=actor, name=api_root)
        return _taxii(
            ApiRootResource(
                title=root.title,
                description=root.description,
                versions=[TAXII_MEDIA_TYPE],
                max_content_length=config.get_settings().max_submission_bytes,
            ).wire()
        )


@router.get("/{api_root}/status/{status_id}/")
def get_status(
    request: Request, session: TaxiiSession, actor: TaxiiActor, api_root: str, status_id: str
) -> Response:
    """Get Status, TAXII 2.1 §4.3:
    https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html#_Toc31107530

    Statuses of the caller's organisation.
    """
    with _taxii_errors():
        _require_accept(request)
        root = taxii_service.get_api_root_or_raise(actor=actor, name=api_root)
        status = taxii_service.get_status_or_raise(
            session=session, actor=actor, root=root, status_id=status_id
        )
        return _taxii(taxii_service.to_status_resource(status).wire())


# -- §5 Collections ---------------------------------------------------------------------------


@router.get("/{api_root}/collections/")
def get_collections(
    request: Request, session: TaxiiSession, actor: TaxiiActor, api_root: str
) -> Response:
    """Get Collections, TAXII 2.1 §5.1:
    https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html#_Toc31107533

    The caller's audiences in this trust group, narrowest first.
    """
    with _taxii_errors():
        _require_accept(request)
        root = taxii_service.get_api_root_or_raise(actor=actor, name=api_root)
        collections = taxii_service.collections_for(session=session, actor=actor, root=root)
        resources = [taxii_service.to_collection_resource(actor, c) for c in collections]
        return _taxii(CollectionsResource(collections=resources or None).wire())


@router.get("/{api_root}/collections/{collection_id}/")
def get_collection(
    request: Request, session: TaxiiSession, actor: TaxiiActor, api_root: str, collection_id: str
) -> Response:
    """Get a Collection, TAXII 2.1 §5.2:
    https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html#_Toc31107535
    """
    with _taxii_errors():
        _require_accept(request)
        root = taxii_service.get_api_root_or_raise(actor=actor, name=api_root)
        collection = taxii_service.get_collection_or_raise(
            session=session, actor=actor, root=root, collection_ref=collection_id
        )
        return _taxii(taxii_service.to_collection_resource(actor, collection).wire())


@router.get("/{api_root}/collections/{collection_id}/manifest/")
def get_object_manifests(
    request: Request, session: TaxiiSession, actor: TaxiiActor, api_root: str, collection_id: str
) -> Response:
    """Get Object Manifests, TAXII 2.1 §5.3:
    https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html#_Toc31107537
    """
    with _taxii_errors():
        _require_accept(request, stix=True)
        root = taxii_service.get_api_root_or_raise(actor=actor, name=api_root)
        collection = taxii_service.get_collection_or_raise(
            session=session, actor=actor, root=root, collection_ref=collection_id
        )
        filters = taxii_service.parse_filters(
            request.query_params.multi_items(), allowed=taxii_service.MANIFEST_FILTERS
        )
        page = taxii_service.manifest(
            session=session, actor=actor, collection=collection, filters=filters
        )
        resource = ManifestResource(
            more=page.more,
            next=page.next,
            objects=[taxii_service.manifest_record(item) for item in page.items] or None,
        )
        return _taxii(resource.wire(), headers=_date_added_headers(page))


@router.get("/{api_root}/collections/{collection_id}/objects/")
def get_objects(
    request: Request, session: TaxiiSession, actor: TaxiiActor, api_root: str, collection_id: str
) -> Response:
    """Get Objects, TAXII 2.1 §5.4:
    https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html#_Toc31107539
    """
    with _taxii_errors():
        _require_accept(request, stix=True)
        root = taxii_service.get_api_root_or_raise(actor=actor, name=api_root)
        collection = taxii_service.get_collection_or_raise(
            session=session, actor=actor, root=root, collection_ref=collection_id
        )
        filters = taxii_service.parse_filters(
            request.query_params.multi_items(), allowed=taxii_service.OBJECTS_FILTERS
        )
        page = taxii_service.objects(
            session=session, actor=actor, collection=collection, filters=filters
        )
        return _envelope(page, _date_added_headers(page))


def _envelope(page: taxii_service.Page, headers: dict[str, str]) -> Response:
    """§3.7 Envelope. The objects are the stored JSON texts (validated STIX already) joined as
    they are: nothing is parsed and serialised again."""
    head: dict[str, Any] = {"more": page.more}
    if page.next is not None:
        head["next"] = page.next
    body = orjson.dumps(head)
    if page.items:
        objects = b",".join(item.content or b"null" for item in page.items)
        body = body[:-1] + b',"objects":[' + objects + b"]}"
    return Response(body, media_type=TAXII_MEDIA_TYPE, headers=headers)


@router.post("/{api_root}/collections/{collection_id}/objects/")
def add_objects(
    request: Request,
    session: TaxiiSession,
    actor: TaxiiActor,
    body: Annotated[_Body, Depends(_read_body)],
    api_root: str,
    collection_id: str,
) -> Response:
    """Add Objects, TAXII 2.1 §5.5:
    https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html#_Toc31107540

    A collection the caller cannot see is 404; one it sees but may not write to is 403. The
    objects are stored before the answer, so the status (202) is already complete."""
    with _taxii_errors():
        request_timestamp = utcnow()
        _require_accept(request)
        root = taxii_service.get_api_root_or_raise(actor=actor, name=api_root)
        collection = taxii_service.get_collection_or_raise(
            session=session, actor=actor, root=root, collection_ref=collection_id
        )
        _require_content_type(request)
        taxii_service.require_write(actor, collection)
        if body.too_large:
            limit = config.get_settings().max_submission_bytes
            raise PayloadTooLarge(
                f"the body is over this API root's max_content_length of {limit} bytes"
            )
        status = taxii_service.add_objects(
            session=session,
            actor=actor,
            root=root,
            collection=collection,
            body=body.data,
            request_timestamp=request_timestamp,
        )
        return _taxii(taxii_service.to_status_resource(status).wire(), status=202)


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/")
def get_an_object(
    request: Request,
    session: TaxiiSession,
    actor: TaxiiActor,
    api_root: str,
    collection_id: str,
    object_id: str,
) -> Response:
    """Get an Object, TAXII 2.1 §5.6:
    https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html#_Toc31107541
    """
    with _taxii_errors():
        _require_accept(request, stix=True)
        root = taxii_service.get_api_root_or_raise(actor=actor, name=api_root)
        collection = taxii_service.get_collection_or_raise(
            session=session, actor=actor, root=root, collection_ref=collection_id
        )
        filters = taxii_service.parse_filters(
            request.query_params.multi_items(), allowed=taxii_service.OBJECT_FILTERS
        )
        page = taxii_service.get_object(
            session=session,
            actor=actor,
            collection=collection,
            object_id=object_id,
            filters=filters,
        )
        return _envelope(page, _date_added_headers(page))


@router.delete("/{api_root}/collections/{collection_id}/objects/{object_id}/")
def delete_an_object(
    request: Request,
    session: TaxiiSession,
    actor: TaxiiActor,
    api_root: str,
    collection_id: str,
    object_id: str,
) -> Response:
    """Delete an Object, TAXII 2.1 §5.7:
    https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html#_Toc31107542

    Without match[version] every version goes. Only the owner organisation deletes; another
    that can read the object gets 403, one that cannot 404."""
    with _taxii_errors():
        _require_accept(request)
        root = taxii_service.get_api_root_or_raise(actor=actor, name=api_root)
        collection = taxii_service.get_collection_or_raise(
            session=session, actor=actor, root=root, collection_ref=collection_id
        )
        filters = taxii_service.parse_filters(
            request.query_params.multi_items(),
            allowed=taxii_service.DELETE_FILTERS,
            default_version="all",
        )
        taxii_service.delete_object(
            session=session,
            actor=actor,
            collection=collection,
            object_id=object_id,
            filters=filters,
        )
        return Response(status_code=200, media_type=TAXII_MEDIA_TYPE)


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/versions/")
def get_object_versions(
    request: Request,
    session: TaxiiSession,
    actor: TaxiiActor,
    api_root: str,
    collection_id: str,
    object_id: str,
) -> Response:
    """Get Object Versions, TAXII 2.1 §5.8:
    https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html#_Toc31107543
    """
    with _taxii_errors():
        _require_accept(request, stix=True)
        root = taxii_service.get_api_root_or_raise(actor=actor, name=api_root)
        collection = taxii_service.get_collection_or_raise(
            session=session, actor=actor, root=root, collection_ref=collection_id
        )
        filters = taxii_service.parse_filters(
            request.query_params.multi_items(), allowed=taxii_service.VERSIONS_FILTERS
        )
        page = taxii_service.object_versions(
            session=session,
            actor=actor,
            collection=collection,
            object_id=object_id,
            filters=filters,
        )
        resource = VersionsResource(
            more=page.more,
            next=page.next,
            versions=[taxii_service.stix_timestamp(item.modified) for item in page.items] or None,
        )
        return _taxii(resource.wire(), headers=_date_added_headers(page))


@router.api_route(
    "/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
)
def no_such_endpoint(request: Request, rest: str) -> Response:
    """Anything else under /taxii2/ answers as TAXII too (§3.1, §3.6)."""
    path = request.scope["path"]
    if not path.endswith("/"):
        raise TaxiiError(404, "Not found", f"TAXII paths end with a slash (§3.1): try {path}/")
    allowed = sorted(
        method
        for route in router.routes
        if isinstance(route, APIRoute)
        and route.endpoint is not no_such_endpoint
        and route.path_regex.match(path)
        for method in route.methods or ()
    )
    if allowed:
        raise TaxiiError(
            405,
            "Method not allowed",
            f"{request.method} is not defined for {path}; use {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )
    raise TaxiiError(404, "Not found", f"no TAXII endpoint at {path}")
