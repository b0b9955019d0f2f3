"""Benchmark: throughput of observable.extract on prose built from Maltrail trails, vs ioc-finder.

Usage: .venv/bin/python bench/extract.py [--lines 20000] [--data PATH]
Prints MB/s and IOCs/s for both extractors on the same text, and the ratio. Writes nothing.
"""

from __future__ import annotations

import argparse
import random
import tarfile
import time
from collections import Counter
from pathlib import Path

from ioc_finder import find_iocs

from cyberfusion.observable.extract import extract

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "maltrail-static.tar.gz"
SEED = 20240601

TEMPLATES = (
    "The loader contacted {} shortly after execution.",
    "Analysts observed beaconing to {} every 60 seconds over TLS.",
    "Blocklist entry {} was added after the incident on 12.03.2024.",
    "Sandbox report: the sample resolved {} and then dropped report.docx.",
    "Traffic to {} matched the signature in version 2.4.1.7 of the ruleset.",
    "According to the partner CERT, {} hosted the second stage (see setup.exe).",
    "Indicator: {}",
    "We assess with moderate confidence that {} belongs to the same cluster, e.g. the 2023 wave.",
)
FILLER = (
    "The U.S. and EU partners were informed, i.e. the liaison officers in both regions.",
    "Patch build 10.0.19041.1 and firmware v3.2.1 are not affected by this issue.",
    "Attachments invoice.pdf, payload.zip and notes.txt were recovered from the mailbox.",
    "The operators rotated infrastructure roughly every 14 days between 2023-01-05 and 2023-03-30.",
)


def sample_trails(path: Path, count: int) -> list[str]:
    """A reproducible sample of trail lines (domains, URLs, IPs) from the Maltrail archive."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible sampling, not security
    sample: list[str] = []
    seen = 0
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            if not (member.isfile() and member.name.endswith(".txt")):
                continue
            if "/static/" not in member.name:
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            for raw_line in handle.read().decode("utf-8", "replace").splitlines():
                line = raw_line.strip()
                if not line or line.startswith("#"):
                    continue
                seen += 1
                # Reservoir sampling: every line has the same chance, in one pass.
                if len(sample) < count:
                    sample.append(line)
                else:
                    slot = rng.randrange(seen)
                    if slot < count:
                        sample[slot] = line
    return sample


def defang(indicator: str) -> str:
    return indicator.replace("http", "hxxp").replace(".", "[.]")


def build_text(trails: list[str]) -> str:
    rng = random.Random(SEED)  # noqa: S311 - reproducible sampling, not security
    sentences: list[str] = []
    for number, trail in enumerate(trails):
        indicator = defang(trail) if rng.random() < 0.3 else trail
        sentences.append(rng.choice(TEMPLATES).format(indicator))
        if number % 5 == 0:
            sentences.append(rng.choice(FILLER))
    paragraphs = [" ".join(sentences[i : i + 8]) for i in range(0, len(sentences), 8)]
    return "\n\n".join(paragraphs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()

    trails = sample_trails(args.data, args.lines)
    text = build_text(trails)
    megabytes = len(text.encode("utf-8")) / 1e6
    extract("warm-up: load the public suffix list for evil.com and 1.2.3.4")
    find_iocs("warm-up: evil.com and 1.2.3.4")

    started = time.perf_counter()
    ours = extract(text)
    ours_seconds = time.perf_counter() - started

    started = time.perf_counter()
    theirs = find_iocs(text)
    theirs_seconds = time.perf_counter() - started
    theirs_count = sum(
        len(values) if isinstance(values, list) else sum(len(v) for v in values.values())
        for values in theirs.values()
    )

    by_type = Counter(item.obs_type.value for item in ours)
    print(f"text: {len(trails)} Maltrail trail lines in prose, {megabytes:.2f} MB")
    print(
        f"cyberfusion extract: {ours_seconds:.2f} s, {megabytes / ours_seconds:.2f} MB/s, "
        f"{len(ours)} IOCs, {len(ours) / ours_seconds:,.0f} IOCs/s"
    )
    print("  by type: " + ", ".join(f"{name} {count}" for name, count in by_type.most_common()))
    print(
        f"ioc-finder find_iocs: {theirs_seconds:.2f} s, {megabytes / theirs_seconds:.2f} MB/s, "
        f"{theirs_count} IOCs, {theirs_count / theirs_seconds:,.0f} IOCs/s"
    )
    print(f"speed ratio (cyberfusion / ioc-finder): {theirs_seconds / ours_seconds:.1f}x")


if __name__ == "__main__":
    main()
