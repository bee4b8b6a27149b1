"""How long deleting a source image takes when many runs were rendered from it (issue 17,
item 3): the admin request, and (with --job) the purge-source job that a worker does after it.

The runs are stored through the real storing protocol (functions/source_runs.py) with outputs of
realistic sizes, on the local blob store and SQLite in a temporary data directory; no runner is
needed. Usage: .venv/bin/python scripts/bench_purge.py [--runs 200] [--fiddles 200] [--job]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fiddle_protocol import outputs as registry
from fiddle_protocol.options import FiddleOptions
from functions.app import create_app
from functions.config import Settings
from functions.fiddles import SourceRef
from functions.hashing import fiddle_hash
from functions.services import Services, services
from functions.sources import SOURCES
from functions.storage import layout

SOURCE_ID = 7
# Sizes of a still 256x256 run's outputs, roughly, by kind (no animation: no video output).
SIZES = {".png": 6000, ".pdf": 2500, ".skp": 1500, ".txt": 20}


def output_sizes() -> dict[str, int]:
    found = {out.stored: SIZES.get(Path(out.stored).suffix) for out in registry.DRAW_OUTPUTS}
    return {name: size for name, size in found.items() if size is not None}


def stored_runs(built: Services, fiddles: int, runs: int) -> None:
    """`runs` runs of source image SOURCE_ID spread over `fiddles` fiddles."""
    built.blobs.write(layout.source(SOURCE_ID), os.urandom(4000), content_type="image/png")
    for size in (64, 128):
        built.blobs.write(layout.thumbnail(SOURCE_ID, size), b"thumb", content_type="image/png")
    built.documents.create(SOURCES, str(SOURCE_ID), {"creator": "bench", "time": time.time()})
    generation = built.fiddles.source_generation(SOURCE_ID)
    assert generation is not None
    source = SourceRef(SOURCE_ID, generation)
    outputs = {name: os.urandom(size) for name, size in output_sizes().items()}
    for index in range(runs):
        code = f"def draw(canvas):  # {index % fiddles}\n    canvas.drawImage(image, 0, 0)\n"
        options = FiddleOptions(source=SOURCE_ID)
        digest = fiddle_hash(code, options)
        built.fiddles.save_code(digest, code, options)
        runid = f"2026-01-01T00:00:00Z-{index // fiddles}.0"
        built.source_runs.store(digest, runid, outputs, "", source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--fiddles", type=int, default=200)
    parser.add_argument("--job", action="store_true", help="time the purge-source job as well")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir), runners=("http://127.0.0.1:9",)))
        built = services(app)
        stored_runs(built, args.fiddles, args.runs)
        started = time.perf_counter()
        answer = _delete(built)
        requested = time.perf_counter() - started
        print(f"{args.runs} runs of {args.fiddles} fiddles: the deletion answered in "
              f"{requested * 1000:.0f} ms ({answer})")  # fmt: skip
        if args.job:
            started = time.perf_counter()
            while built.worker.run_once():
                pass
            print(f"the purge-source job then took {(time.perf_counter() - started):.2f} s")


def _delete(built: Services) -> str:
    """The deletion as the admin request does it (without the HTTP layer and the audit log)."""
    hashes = built.sources.withdraw(SOURCE_ID)
    job = built.jobs.purge_source(SOURCE_ID, hashes, "bench")
    return f"job {job.id} over {job.total} fiddles"


if __name__ == "__main__":
    main()
