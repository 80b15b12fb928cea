"""Where the benchmarks find the corpus: `--corpus DIR`, else ../shared/corpus beside the repo.

Only bench/ reads the shared corpus; the tests use the copies in tests/fixtures/corpus.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent / "shared" / "corpus"


def corpus_dir(argv: list[str] = sys.argv) -> Path:
    """The corpus folder (`--corpus DIR` is taken out of argv). Exits 2 saying so when absent."""
    path = DEFAULT
    if "--corpus" in argv:
        at = argv.index("--corpus")
        if at + 1 >= len(argv):
            sys.exit("bench: --corpus needs a folder")
        path = Path(argv[at + 1]).resolve()
        del argv[at : at + 2]
    if not (path / "cases.yaml").is_file():
        print(
            f"bench: no corpus at {path} (no cases.yaml there). This benchmark needs the shared "
            "corpus: put it at ../shared/corpus beside the repository or pass --corpus DIR. "
            "(`make test` does not need it.)",
            file=sys.stderr,
        )
        sys.exit(2)
    return path
