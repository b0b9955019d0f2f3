"""Observable service: the fast paths answer as the normaliser does; bulk writes of observables
and occurrences."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.audit import service as audit_service
from cyberfusion.audit.models import AuditEntry
from cyberfusion.core.time import utcnow
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.observable import service as observable_service
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.observable.normalize import InvalidObservable, detect, normalise_typed
from cyberfusion.observable.types import ObservableType as T
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from cyberfusion.stix.patterns import observables_in
from tests.factories import account as account_factory
from tests.factories import intel as intel_factory

MALTRAIL_VALUES = Path(__file__).resolve().parents[3] / "shared" / "data" / "maltrail-static.tar.gz"

# Shapes on both sides of every short cut: what it takes, and what it must leave to detect.
DETECT_CASES = [
    # IPv4 and what only looks like it
    "198.51.100.7",
    " 198.51.100.7 ",
    "0.0.0.0",
    "255.255.255.255",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3",
    "1.2.3.4.5",
    "203.0.113.7/24",
    "203.0.113.7/32",
    "198.51.100.7:8080",
    "198.51.100.7:8080/gate.php",
    "198.51.100.7/gate.php",
    "\u0661\u0662\u0663.\u0661.\u0661.\u0661",  # Arabic-Indic digits
    # host names
    "evil.example.com",
    "EVIL.Example.COM",
    "evil.example.com.",
    "a.b.c.d.e.f.example.org",
    "sub_domain.example.com",
    "_dmarc.example.com",
    "evil_site.com",
    "-evil.example.com",
    "evil-.example.com",
    "x" * 63 + ".com",
    "x" * 64 + ".com",
    ".".join(["abcdefghij"] * 24) + ".com",
    ".".join(["abcdefghi"] * 25) + ".com",
    "example.co.uk",
    "co.uk",
    "evil.example.jp",
    "city.kawasaki.jp",
    "www.ck",
    "evil.ck",
    "evil.notatld",
    "evil.xn--p1ai",
    "xn--80ak6aa92e.com",
    "xn--zz.com",
    "bücher.example",
    "evil.example.com1",
    "as12.com",
    "as12.34",
    "cve-2021-1.com",
    "localhost",
    "evil[.]example[.]com",
    "evil(.)example.com",
    "evil dot example dot com",
    "evil.example.com # comment",
    # URLs without a scheme, and what is not one
    "evil.example.com/gate.php",
    "EVIL.example.com/Gate.php?id=1#x",
    "evil.example.com:443",
    "evil.example.com:443/a",
    "evil.example.com:http/a",
    "evil.example.com?x=1",
    "evil.example.com#frag",
    "evil.example.com/hxxp://x",
    "evil.example.com/a:b",
    "evil.example.com/hxxps:b",
    "a.hxxp:80",
    "tel.example.com:80",
    "tel:+33123456789",
    "+33 1 23 45 67 89",
    "0033123456789/1",
    "IBAN:FR7630006000011234567890189",
    "evil.example.com/%7euser/%2fx",
    "evil.example.com/path with space",
    "user@evil.example.com/x",
    "/gate.php",
    "/",
    "//evil.example.com/x",
    "[2001:db8::1]:443/x",
    # the other types
    "http://evil.example.com/a",
    "hxxps://evil[.]example[.]com/a",
    "user@example.com",
    "d41d8cd98f00b204e9800998ecf8427e",
    "CVE-2021-44228",
    "2001:db8::1",
    "AS64500",
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    "",
    "   ",
]


@pytest.mark.parametrize("raw", DETECT_CASES)
def test_detect_value_answers_as_detect(raw: str) -> None:
    assert observable_service.detect_value(raw) == detect(raw)


_LABEL = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
_TLD = st.sampled_from(["com", "org", "uk", "co.uk", "jp", "ck", "io", "xn--p1ai", "zz", "COM"])
_HOSTS = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_LABEL, max_size=4), _TLD)
_TAILS = st.sampled_from(["", "/", "/a.php", ":80", ":80/x", "?q=1", "#f", ":x", "/hxxp:a", "."])


@settings(max_examples=1500, deadline=None)
@given(host=_HOSTS, tail=_TAILS)
def test_detect_value_answers_as_detect_on_host_shapes(host: str, tail: str) -> None:
    assert observable_service.detect_value(host + tail) == detect(host + tail)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="ab19.-/:?#@[]()_ xXpPtTsS\\%", max_size=24))
def test_detect_value_answers_as_detect_on_any_text(raw: str) -> None:
    assert observable_service.detect_value(raw) == detect(raw)


@pytest.mark.skipif(not MALTRAIL_VALUES.exists(), reason="the Maltrail test data is not present")
def test_detect_value_answers_as_detect_on_maltrail() -> None:
    import tarfile

    values: list[str] = []
    with tarfile.open(MALTRAIL_VALUES, "r:gz") as archive:
        for member in archive:
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is None or not member.name.endswith(".txt"):
                continue
            lines = handle.read().decode("utf-8", "replace").splitlines()
            # Every 13th line keeps the test short and still covers each file's shapes.
            values += [line.split(" #")[0] for line in lines[::13] if not line.startswith("#")]
    assert len(values) > 100_000
    assert [v for v in values if observable_service.detect_value(v) != detect(v)] == []


@pytest.mark.parametrize(
    ("obs_type", "raw"),
    [
        (T.IPV4, "198.51.100.7"),
        (T.IPV4, "198.51.100.07"),
        (T.IPV4, "198.51.100.7/24"),
        (T.IPV4, "198[.]51.100.7"),
        (T.IPV4, " 198.51.100.7"),
        (T.DOMAIN, "Evil.Example.com"),
        (T.DOMAIN, "evil.example.com."),
        (T.DOMAIN, "example.co.uk"),
        (T.DOMAIN, "co.uk"),
        (T.DOMAIN, "city.kawasaki.jp"),
        (T.DOMAIN, "xn--80ak6aa92e.com"),
        (T.DOMAIN, "evil[.]example.com"),
        (T.DOMAIN, "a_b.example.com"),
        (T.DOMAIN, "evil_site.com"),
        (T.DOMAIN, "x" * 64 + ".com"),
        (T.DOMAIN, "evil.notatld"),
        (T.URL, "evil.example.com/a"),
        (T.URL, "http://evil.example.com"),
        (T.URL, "https://evil.example.com/gate/./../a~b_c-d.php"),
        (T.URL, "http://evil.example.co.uk/a"),
        (T.URL, "http://xn--80ak6aa92e.com/a"),
        (T.URL, "http://ab--cd.com/a"),
        (T.URL, "http://evil.example.com:80/a"),
        (T.URL, "http://evil.example.com/a%2Fb"),
        (T.URL, "HTTP://evil.example.com/a"),
        (T.URL, "http://" + "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61 + ".com/"),
        (T.IPV6, "::ffff:198.51.100.7"),
    ],
)
def test_normalise_value_answers_as_normalise_typed(obs_type: T, raw: str) -> None:
    assert_same_answer(obs_type, raw)


def assert_same_answer(obs_type: T, raw: str) -> None:
    try:
        expected = normalise_typed(obs_type, raw)
    except InvalidObservable as exc:
        with pytest.raises(InvalidObservable) as raised:
            observable_service.normalise_value(obs_type, raw)
        assert raised.value.reason == exc.reason
    else:
        assert observable_service.normalise_value(obs_type, raw) == expected


# URLs near the edge of the fast path: its shape with, now and then, one thing it refuses.
_SCHEMES = st.sampled_from(["http", "https", "http", "https", "HTTP", "ftp", "hxxp", "http:"])
_LABELS = st.sampled_from(
    ["evil", "a", "a-b", "ab--cd", "xn--80ak6aa92e", "-a", "a-", "A", "a_b", "0", "x" * 64, ""]
)
_TLDS = st.sampled_from(["com", "net", "org", "uk", "jp", "co.uk", "notatld", "c0m", "xn--p1ai"])
_UNSAFE = "%:@?#!$&'()[]\\ \u00e9"
_SAFE = "abcXYZ019._~/-"
_PATHS = st.one_of(
    st.just(""),
    st.text(alphabet=_SAFE, max_size=12).map(lambda text: "/" + text),
    st.text(alphabet=_SAFE + _UNSAFE, max_size=12).map(lambda text: "/" + text),
    st.text(alphabet=_SAFE + _UNSAFE, max_size=12),
)


@given(
    scheme=_SCHEMES,
    labels=st.lists(_LABELS, min_size=1, max_size=3),
    tld=_TLDS,
    port=st.sampled_from(["", "", "", ":80", ":443", ":8080"]),
    path=_PATHS,
)
@settings(max_examples=500, deadline=None)
def test_the_url_short_cut_answers_as_normalise_typed(
    scheme: str, labels: list[str], tld: str, port: str, path: str
) -> None:
    assert_same_answer(T.URL, f"{scheme}://{'.'.join(labels)}.{tld}{port}{path}")


def _reference(pattern: str) -> list[tuple[str, str]]:
    """What observables_of gives without its short cut: every comparison, normalised."""
    found: dict[tuple[str, str], None] = {}
    for obs_type, raw in observables_in(pattern):
        candidates = [T.BTC, T.ETH, T.XMR] if obs_type in (T.BTC, T.ETH, T.XMR) else [obs_type]
        for candidate in candidates:
            try:
                kind, value = normalise_typed(candidate, raw)
            except InvalidObservable:
                continue
            found[(kind.value, value)] = None
            break
    return list(found)


@pytest.mark.parametrize(
    "pattern",
    [
        "[ipv4-addr:value = '198.51.100.7']",
        "[ipv4-addr:value = '198.51.100.07']",
        "[ipv6-addr:value = '::ffff:198.51.100.7']",
        "[domain-name:value = 'Evil.Example.com']",
        "[url:value = 'http://evil.example.com/it\\'s']",
        "[url:value = 'http://evil.example.com/back\\\\slash']",
        "[email-addr:value = 'User@Example.com']",
        "[x-phone-number:value = '+33 1 23 45 67 89']",
        "[x-cryptocurrency-wallet:value = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq']",
        "[mac-addr:value = 'aa:bb:cc:dd:ee:ff']",
        "[file:hashes.'SHA-256' = '" + "A" * 64 + "']",
        "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
        "[file:hashes.'sha-1' = '" + "b" * 40 + "']",
        "[file:hashes.SHA256 = '" + "c" * 64 + "']",
        "[file:hashes.'SSDEEP' = '3:a:b']",
        "[domain-name:value = 'a.example.com'] OR [domain-name:value = 'b.example.com']",
        "[domain-name:value='a.example.com']",
        "[ipv4-addr:value = '198.51.100.7' AND ipv4-addr:value = '198.51.100.8']",
    ],
)
def test_observables_of_reads_patterns_as_observables_in(pattern: str) -> None:
    content = {"type": "indicator", "pattern": pattern, "pattern_type": "stix"}
    assert observable_service.observables_of(content) == _reference(pattern)


def test_digest_is_the_sha256_of_type_nul_value() -> None:
    assert observable_service.digest("ipv4-addr", "198.51.100.7") == (
        hashlib.sha256(b"ipv4-addr\x00198.51.100.7").hexdigest()
    )


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_ensure_stores_each_observable_once(session: Session) -> None:
    pairs = [("domain-name", "m1.example.com"), ("ipv4-addr", "198.51.100.201")]
    before = _count(session, Observable)
    first = observable_service.ensure(session=session, pairs=[*pairs, pairs[0]])
    again = observable_service.ensure(session=session, pairs=pairs[::-1])
    assert first == again
    assert sorted(first) == sorted(observable_service.digest(t, v) for t, v in pairs)
    assert _count(session, Observable) == before + 2
    stored = session.get(Observable, first[observable_service.digest(*pairs[0])])
    assert stored is not None
    assert (stored.obs_type, stored.value) == pairs[0]


def test_record_occurrences_counts_each_pair_once(session: Session) -> None:
    actor = account_factory.actor(session)
    one = intel_factory.record(session, actor)
    two = intel_factory.record(session, actor)
    now = utcnow()
    stored = observable_service.record_occurrences(
        session=session,
        org_id=one.owner_org_id,
        submission_id=None,
        reported_at=now,
        occurrences=[
            (one.id, one.label_id, "domain-name", "m2.example.com"),
            (one.id, one.label_id, "domain-name", "m2.example.com"),
            (two.id, two.label_id, "domain-name", "m2.example.com"),
            (two.id, two.label_id, "ipv4-addr", "198.51.100.202"),
        ],
    )
    assert stored == 3
    rows = session.scalars(
        select(Occurrence).where(Occurrence.intel_object_id.in_([one.id, two.id]))
    ).all()
    assert sorted((o.intel_object_id, o.label_id) for o in rows) == sorted(
        [(one.id, one.label_id), (two.id, two.label_id), (two.id, two.label_id)]
    )
    assert {o.reported_at for o in rows} == {now}


def test_list_occurrences_skip_what_the_organisation_already_reported(session: Session) -> None:
    actor = account_factory.actor(session)
    held = intel_factory.record(session, actor)
    listed = intel_factory.record(session, actor)
    items = [
        (observable_service.digest("domain-name", v), "domain-name", v)
        for v in ("m3.example.com", "m4.example.com")
    ]

    def record(record_id: int, label_id: int, chosen: list[tuple[str, str, str]]) -> int:
        return observable_service.record_list_occurrences(
            session=session,
            org_id=held.owner_org_id,
            label_id=label_id,
            record_id=record_id,
            submission_id=None,
            reported_at=utcnow(),
            items=chosen,
        )

    assert record(held.id, held.label_id, items[:1]) == 1
    # m3 is held under this label by another record; m4 is new; the repeat counts once.
    assert record(listed.id, held.label_id, [*items, items[1]]) == 1
    # The same items again for the same record: all there already.
    assert record(listed.id, held.label_id, items) == 0
    # Under another label, m3 is news to other readers: stored again.
    green = intel_factory.record(
        session, actor, labels=LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)
    )
    assert green.label_id != held.label_id
    assert record(green.id, green.label_id, items[:1]) == 1


def test_a_seeded_url_corpus_agrees_and_takes_the_short_cut() -> None:
    """The same shapes, seeded: the agreement only means something if the short cut is taken."""
    rng = random.Random(20261129)
    labels = ["evil", "a", "a-b", "ab--cd", "xn--80ak6aa92e", "-a", "A", "a_b", "0"]
    urls = [
        f"{rng.choice(['http', 'https', 'HTTP', 'hxxp'])}://"
        + ".".join(rng.choice(labels) for _ in range(rng.randint(1, 3)))
        + f".{rng.choice(['com', 'net', 'uk', 'co.uk', 'notatld'])}"
        + rng.choice(["", "", ":80", ":8080"])
        + rng.choice(["", "/", "/gate/", "x/"])
        + "".join(
            rng.choice(alphabet)
            for alphabet in [rng.choice([_SAFE, _SAFE * 3 + _UNSAFE])]
            for _ in range(rng.randint(0, 10))
        )
        for _ in range(600)
    ]
    for url in urls:
        assert_same_answer(T.URL, url)
    short = [url for url in urls if observable_service._FAST_HTTP_URL.fullmatch(url)]
    assert len(short) >= 30


def _lookups_audited(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(AuditEntry.target_id)
            .where(AuditEntry.action == "selector.lookup")
            .order_by(AuditEntry.seq)
        )
    )


def test_every_selector_lookup_is_audited_known_or_not(session: Session) -> None:
    owner = account_factory.actor(session, org="cert-fr", role=Role.PARTNER_ANALYST)
    intake_service.submit(
        session=session,
        actor=owner,
        raw=b"type,value\nipv4-addr,198.51.100.77\n",
        options=SubmissionOptions(
            source_format=SourceFormat.CSV,
            labels=LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
        ),
    )
    analyst = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    before = _lookups_audited(session)

    known = observable_service.lookup(session=session, actor=analyst, raw="198.51.100.77")
    unknown = observable_service.lookup(session=session, actor=analyst, raw="203.0.113.250")

    assert known.observable_id is not None and len(known.occurrences) == 1
    assert (unknown.observable_id, unknown.occurrences, unknown.hidden_match) == (None, [], False)
    assert _lookups_audited(session)[len(before) :] == [
        "ipv4-addr 198.51.100.77",
        "ipv4-addr 203.0.113.250",
    ]
    assert audit_service.verify(session=session).ok
