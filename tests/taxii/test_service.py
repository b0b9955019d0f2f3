"""TAXII service pieces that need no HTTP: filters, paging tokens, timestamps, collection ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cyberfusion.taxii import service as taxii_service
from cyberfusion.taxii.service import BadRequest, CollectionKind, Cursor, collection_id


def test_limit_is_capped_at_the_server_page_size() -> None:
    filters = taxii_service.parse_filters(
        [("limit", "50000")], allowed=taxii_service.OBJECTS_FILTERS
    )
    assert filters.limit == taxii_service.MAX_PAGE_SIZE == 1000


def test_defaults_last_version_and_for_delete_all() -> None:
    read = taxii_service.parse_filters([], allowed=taxii_service.OBJECTS_FILTERS)
    assert (read.version_keywords, read.versions, read.limit) == (frozenset({"last"}), (), 1000)
    delete = taxii_service.parse_filters(
        [], allowed=taxii_service.DELETE_FILTERS, default_version="all"
    )
    assert delete.version_keywords == frozenset({"all"})


def test_filters_an_endpoint_does_not_support_are_ignored() -> None:
    filters = taxii_service.parse_filters(
        [("match[type]", "indicator"), ("limit", "5")], allowed=taxii_service.DELETE_FILTERS
    )
    assert (filters.types, filters.limit) == ((), 1000)


def test_versions_mix_keywords_and_timestamps() -> None:
    filters = taxii_service.parse_filters(
        [("match[version]", "first,2026-11-03T10:00:00.123Z")],
        allowed=taxii_service.OBJECTS_FILTERS,
    )
    assert filters.version_keywords == frozenset({"first"})
    assert filters.versions == (datetime(2026, 11, 3, 10, 0, 0, 123000, tzinfo=UTC),)


def test_a_paging_token_round_trips_to_the_microsecond() -> None:
    cursor = Cursor(datetime(2026, 11, 29, 8, 23, 21, 811326, tzinfo=UTC), 4711)
    assert Cursor.from_token(cursor.token()) == cursor


@pytest.mark.parametrize("token", ["", "bm90LWEtdG9rZW4", "MTox:2"])
def test_a_token_this_server_did_not_issue_is_refused(token: str) -> None:
    with pytest.raises(BadRequest) as refused:
        Cursor.from_token(token)
    assert refused.value.detail == (
        f"next: {token!r} is not a paging token from this server; send the `next` value of "
        "the previous response unchanged"
    )


def test_timestamps() -> None:
    at = datetime(2026, 11, 2, 10, 0, 0, 120000, tzinfo=UTC)
    assert taxii_service.taxii_timestamp(at) == "2026-11-02T10:00:00.120000Z"
    assert taxii_service.stix_timestamp(at) == "2026-11-02T10:00:00.120Z"
    assert taxii_service.stix_timestamp(at.replace(microsecond=120001)) == (
        "2026-11-02T10:00:00.120001Z"
    )


def test_collection_ids_are_stable_names() -> None:
    assert collection_id(CollectionKind.MEMBERS) == "27abce08-2bbc-5d73-b59c-6bf9bd2d7919"
    assert collection_id(CollectionKind.ORG, "ncb-fr") == "15477717-6130-5303-a84e-3467488ba051"
    assert collection_id(CollectionKind.COUNTRY, "FR") == "f74b96f3-1b75-5cc0-a0fe-9b02b28ce1dd"


def test_a_bundle_reads_as_an_envelope() -> None:
    bundle = b'{"type": "bundle", "id": "bundle--1", "objects": [{"type": "x"}]}'
    assert taxii_service.read_envelope(bundle) == [{"type": "x"}]
