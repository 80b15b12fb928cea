"""Figures behind monitor/trust.py's two thresholds, from archives of real history.

Reads archives made by `bench/history.py --keep DIR` (one folder per versions repository, each
an archive) and prints, over every pair of consecutive captures of a document:

  1. how much of the previous capture's words the next one lacks (monitor.trust.lost_share),
     in buckets: the gap between real edits and broken captures is where SUSPECT_LOST sits;
  2. for every capture whose whole text returns to an earlier one (A -> ... -> A), how long
     the document read otherwise: how far back "seen before" must look (WINDOW).

Usage: `PYTHONPATH=. .venv/bin/python bench/trust_figures.py /tmp/hold-arch`
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.archive import Archive  # noqa: E402
from monitor.trust import lost_share, normal  # noqa: E402

LOST_EDGES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.01)
DAY_EDGES = (1, 7, 30, 90, 365, 10_000)


def main(folders: list[Path]) -> None:
    lost: Counter[int] = Counter()
    returns: Counter[int] = Counter()
    pairs = flips = 0
    for folder in folders:
        for catalog in sorted(folder.glob("**/catalog.sqlite")):
            with Archive(catalog.parent, check=False) as archive:
                for source_id in archive.source_ids():
                    versions = [v for v in archive.versions(source_id) if not v.technical]
                    texts = [normal(archive.read_version(v).text) for v in versions]
                    seen: dict[str, int] = {}
                    for i, version in enumerate(versions):
                        if i:
                            pairs += 1
                            share = lost_share(texts[i - 1], texts[i])
                            lost[bisect_left(LOST_EDGES, share + 1e-9)] += 1
                        j = seen.get(version.sha256)
                        if j is not None and j < i - 1:
                            flips += 1
                            gone = version.recorded_at - versions[j + 1].recorded_at
                            returns[bisect_left(DAY_EDGES, gone.total_seconds() / 86400)] += 1
                        seen[version.sha256] = i
    print(f"{pairs} pairs of consecutive captures; share of the previous capture's words lost:")
    low = 0.0
    for n, edge in enumerate(LOST_EDGES):
        print(f"  {low:4.0%} - {min(edge, 1):4.0%}: {lost[n]:6} ({lost[n] / max(pairs, 1):6.1%})")
        low = edge
    print(f"{flips} captures returning to an earlier whole text; the other text stood:")
    low_days = 0
    total = 0
    for n, edge in enumerate(DAY_EDGES):
        total += returns[n]
        print(
            f"  {low_days:>4} - {edge:>5} days: {returns[n]:5}"
            f"  (cumulative {total / max(flips, 1):6.1%})"
        )
        low_days = edge


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]] or [Path("/tmp/hold-arch")])
