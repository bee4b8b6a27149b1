"""The local blob store under concurrent writers: no lost updates, no torn reads."""

from __future__ import annotations

import multiprocessing
import pathlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.storage.blobstore import PreconditionFailed
from functions.storage.local import LocalBlobStore

COUNTER = "source/lastid.txt"


def _increment(root: str, times: int, start: threading.Barrier) -> None:
    """Runs in a child process: add one to the counter `times` times, retrying lost races."""
    store = LocalBlobStore(pathlib.Path(root))
    start.wait()
    for _ in range(times):
        while True:
            blob = store.read(COUNTER)
            value = b"%d" % (int(blob.data) + 1)
            try:
                store.write(COUNTER, value, if_generation_match=blob.generation)
                break
            except PreconditionFailed:
                continue


def test_processes_incrementing_a_counter_lose_no_update(tmp_path: pathlib.Path) -> None:
    processes, times = 4, 50
    store = LocalBlobStore(tmp_path / "store")
    store.write(COUNTER, b"0", if_generation_match=0)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes)
    workers = [
        ctx.Process(target=_increment, args=(str(store.root), times, start))
        for _ in range(processes)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert [w.exitcode for w in workers] == [0] * processes
    assert int(store.read(COUNTER).data) == processes * times


def test_threads_racing_to_create_exactly_one_wins(tmp_path: pathlib.Path) -> None:
    threads = 16
    store = LocalBlobStore(tmp_path / "store")
    start = threading.Barrier(threads)

    def create(i: int) -> bool:
        start.wait()
        try:
            store.write("named/race", b"%d" % i, if_generation_match=0)
        except PreconditionFailed:
            return False
        return True

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(create, range(threads)))
    assert results.count(True) == 1
    assert store.read("named/race").data == b"%d" % results.index(True)


@pytest.mark.parametrize("size", [1 << 20])
def test_readers_never_see_a_torn_object(tmp_path: pathlib.Path, size: int) -> None:
    store = LocalBlobStore(tmp_path / "store")
    store.write("big", b"A" * size, metadata={"fill": "A"})
    done = threading.Event()
    torn: list[str] = []
    reads = [0]

    def reader() -> None:
        while not done.is_set():
            blob = store.read("big")
            fill = blob.metadata["fill"].encode()
            # Data and metadata come from one file, so they must agree, and the data is whole.
            if blob.data != fill * size:
                torn.append(f"fill={fill!r} len={len(blob.data)}")
            reads[0] += 1

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(reader) for _ in range(4)]
        for i in range(150):
            fill = "B" if i % 2 == 0 else "A"
            store.write("big", fill.encode() * size, metadata={"fill": fill})
        done.set()
        for f in futures:
            f.result()
    assert torn == []
    assert reads[0] > 0
