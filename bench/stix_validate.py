"""Benchmark: the STIX validation gate and pattern fast path against the OASIS libraries.

Usage: .venv/bin/python bench/stix_validate.py [--indicators 20000] [--stix2-sample 5000]
                                               [--data DIR]

Measures, in one run on the same objects:
- validate_object vs stix2.parse(obj, allow_custom=True) on the MITRE ATT&CK Enterprise bundle
  upgraded to STIX 2.1 (stix2 on a seeded sample, as it is slow), and on generated indicators
  whose patterns carry real Maltrail domains, URLs and IP addresses;
- check_pattern vs the stix2-patterns ANTLR validator on those indicators' patterns.
Prints objects/s or patterns/s for each and the ratio. Writes nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import tarfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import stix2
from stix2patterns.validator import run_validator

from cyberfusion.observable.types import ObservableType
from cyberfusion.sharing.models import TLP_MARKING_IDS, Tlp
from cyberfusion.stix.patterns import check_pattern, pattern_for
from cyberfusion.stix.upgrade import upgrade_bundle
from cyberfusion.stix.validate import validate_object

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEED = 20240601
IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?")


def timed(label: str, items: list[Any], work: Callable[[Any], object]) -> float:
    """Items per second of `work` over `items`; prints and returns it."""
    start = time.perf_counter()
    for item in items:
        work(item)
    elapsed = time.perf_counter() - start
    rate = len(items) / elapsed
    print(f"  {label:<44} {len(items):>7} in {elapsed:7.2f} s = {rate:>10,.0f} /s")
    return rate


def stix2_parse(obj: dict[str, Any]) -> object:
    return stix2.parse(obj, allow_custom=True)


def count_invalid(objects: Iterable[dict[str, Any]]) -> int:
    return sum(1 for position, obj in enumerate(objects) if validate_object(obj, index=position))


def maltrail_values(
    archive: Path, count: int, rng: random.Random
) -> list[tuple[ObservableType, str]]:
    """`count` (type, value) pairs drawn from the Maltrail static trails."""
    values: list[tuple[ObservableType, str]] = []
    with tarfile.open(archive) as tar:
        for member in tar:
            if not (member.isfile() and member.name.endswith(".txt")):
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            for raw in handle.read().decode("utf-8", "replace").splitlines():
                line = raw.split("#", 1)[0].strip()
                if not line:
                    continue
                if "/" in line:
                    url = line if line.startswith(("http://", "https://")) else f"http://{line}"
                    values.append((ObservableType.URL, url))
                    continue
                host = line.rsplit(":", 1)[0] if line.count(":") == 1 else line  # drop a port
                if IPV4.fullmatch(host):
                    values.append((ObservableType.IPV4, host))
                else:
                    values.append((ObservableType.DOMAIN, host))
    return rng.sample(values, count)


def indicator(obs_type: ObservableType, value: str, rng: random.Random) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
        "created": "2024-06-01T12:00:00.000Z",
        "modified": "2024-06-01T12:00:00.000Z",
        "name": f"Maltrail {obs_type.value}",
        "indicator_types": ["malicious-activity"],
        "pattern": pattern_for(obs_type, value),
        "pattern_type": "stix",
        "valid_from": "2024-06-01T12:00:00Z",
        "object_marking_refs": [TLP_MARKING_IDS[Tlp.GREEN]],
    }


def compare(title: str, ours: float, theirs: float, theirs_name: str) -> None:
    print(f"  => {title}: ours / {theirs_name} = {ours / theirs:,.1f}x\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indicators", type=int, default=20_000)
    parser.add_argument("--stix2-sample", type=int, default=5_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    rng = random.Random(SEED)  # noqa: S311 - a reproducible sample, not a secret

    with gzip.open(args.data / "enterprise-attack-stix20.json.gz") as handle:
        attack = upgrade_bundle(json.load(handle))["objects"]
    sample = rng.sample(attack, min(args.stix2_sample, len(attack)))
    print(f"ATT&CK Enterprise upgraded to STIX 2.1: {len(attack)} objects")
    print(f"  objects with problems (ours): {count_invalid(attack)}")
    timed("validate_object, whole bundle", attack, lambda o: validate_object(o, index=0))
    ours = timed("validate_object, sample", sample, lambda o: validate_object(o, index=0))
    theirs = timed("stix2.parse(allow_custom=True), sample", sample, stix2_parse)
    compare("ATT&CK objects/s", ours, theirs, "stix2.parse")

    values = maltrail_values(args.data / "maltrail-static.tar.gz", args.indicators, rng)
    indicators = [indicator(obs_type, value, rng) for obs_type, value in values]
    kinds = {t.value: sum(1 for v in values if v[0] is t) for t in {v[0] for v in values}}
    print(f"Generated indicators from Maltrail values: {len(indicators)} {kinds}")
    print(f"  objects with problems (ours): {count_invalid(indicators)}")
    ours = timed("validate_object", indicators, lambda o: validate_object(o, index=0))
    theirs = timed("stix2.parse(allow_custom=True)", indicators, stix2_parse)
    compare("indicators/s", ours, theirs, "stix2.parse")

    pattern_texts = [obj["pattern"] for obj in indicators]
    rejected = sum(1 for text in pattern_texts if check_pattern(text) is not None)
    print(
        f"Patterns of those indicators: {len(pattern_texts)}, rejected by check_pattern: {rejected}"
    )
    ours = timed("check_pattern", pattern_texts, check_pattern)
    theirs = timed("stix2patterns run_validator (ANTLR)", pattern_texts, run_validator)
    compare("patterns/s", ours, theirs, "ANTLR")


if __name__ == "__main__":
    main()
