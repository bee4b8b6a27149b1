"""What every BlobStore backend must do, plus what only the local directory store adds."""

from __future__ import annotations

import itertools
import os
import pathlib
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from fiddle_protocol.options import FiddleOptions
from functions.builtin_sources import BUILTIN_SOURCES, image_path
from functions.config import Settings
from functions.docstore.sqlite import SqliteDocumentStore
from functions.fiddles import FiddleRepository
from functions.hashing import fiddle_hash, skia_hash
from functions.quotas import ClientLimits, FairShare, StorageQuota
from functions.runner_client import HttpRunnerClient
from functions.source_runs import SourceRuns
from functions.sources import SourceImages
from functions.storage.blobstore import (
    BlobInfo,
    BlobStore,
    InvalidName,
    NotFound,
    PreconditionFailed,
)
from functions.storage.factory import make_blob_store
from functions.storage.gcs import GcsBlobStore
from functions.storage.local import LocalBlobStore
from functions.storage.memory import MemoryBlobStore
from tests.gcs_server import fake_gcs_server, gcs_blob_store  # noqa: F401 (fixtures)


# Every test taking blob_store runs against each backend; the GCS one against fake-gcs-server,
# started only when a gcs case runs.
@pytest.fixture(params=["local", "memory", "gcs"])
def blob_store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "store")
    if request.param == "memory":
        return MemoryBlobStore()
    if request.param == "gcs":
        store: BlobStore = request.getfixturevalue("gcs_blob_store")
        return store
    raise AssertionError(f"unknown backend {request.param}")


def _skip_on_fake_gcs(request: pytest.FixtureRequest, reason: str) -> None:
    """Only for what fake-gcs-server does unlike GCS; never weakens a local backend's test."""
    if request.node.callspec.params.get("blob_store") == "gcs":
        pytest.skip(reason)


@pytest.fixture
def local_store(tmp_path: pathlib.Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "store")


def _names(store: BlobStore, prefix: str) -> list[str]:
    return [info.name for info in store.list(prefix)]


# --- reading and writing ---


def test_roundtrip_with_metadata_and_content_type(blob_store: BlobStore) -> None:
    meta = {"width": "256", "height": "256", "note": "ünïcode ✓"}
    gen = blob_store.write(
        "fiddle/abc/draw.py", b"\x00code\xff", metadata=meta, content_type="text/x-python"
    )
    blob = blob_store.read("fiddle/abc/draw.py")
    assert (blob.name, blob.data, blob.generation) == ("fiddle/abc/draw.py", b"\x00code\xff", gen)
    assert blob.metadata == meta
    assert blob.content_type == "text/x-python"
    info = blob_store.stat("fiddle/abc/draw.py")
    assert info == BlobInfo("fiddle/abc/draw.py", gen, 6, meta, "text/x-python")


def test_defaults_and_empty_data(blob_store: BlobStore) -> None:
    blob_store.write("empty", b"")
    blob = blob_store.read("empty")
    assert (blob.data, blob.metadata, blob.content_type) == (b"", {}, "application/octet-stream")
    assert blob_store.stat("empty").size == 0
    assert blob_store.exists("empty")


def test_rewrite_replaces_data_and_metadata(blob_store: BlobStore) -> None:
    blob_store.write("x", b"first", metadata={"a": "1"}, content_type="text/plain")
    blob_store.write("x", b"2nd", metadata={"b": "2"})
    blob = blob_store.read("x")
    assert (blob.data, blob.metadata) == (b"2nd", {"b": "2"})
    assert blob.content_type == "application/octet-stream"


def test_generation_is_positive_and_increases_on_every_write(blob_store: BlobStore) -> None:
    gens = [blob_store.write("counter", str(i).encode()) for i in range(20)]
    assert gens[0] > 0
    assert all(a < b for a, b in itertools.pairwise(gens))
    assert blob_store.stat("counter").generation == gens[-1]


# --- preconditions ---


def test_if_generation_match_zero_succeeds_once(blob_store: BlobStore) -> None:
    gen = blob_store.write("source/lastid.txt", b"1", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        blob_store.write("source/lastid.txt", b"2", if_generation_match=0)
    assert blob_store.read("source/lastid.txt").data == b"1"
    assert blob_store.stat("source/lastid.txt").generation == gen


def test_stale_generation_fails_and_current_succeeds(blob_store: BlobStore) -> None:
    old = blob_store.write("x", b"1")
    current = blob_store.write("x", b"2")
    with pytest.raises(PreconditionFailed):
        blob_store.write("x", b"stale", if_generation_match=old)
    assert blob_store.read("x").data == b"2"
    newer = blob_store.write("x", b"3", if_generation_match=current)
    assert newer > current
    assert blob_store.read("x").data == b"3"


def test_nonzero_precondition_on_missing_object_fails(blob_store: BlobStore) -> None:
    with pytest.raises(PreconditionFailed):
        blob_store.write("missing", b"x", if_generation_match=12345)
    assert not blob_store.exists("missing")


def test_delete_with_precondition(blob_store: BlobStore, request: pytest.FixtureRequest) -> None:
    _skip_on_fake_gcs(request, "fake-gcs-server ignores delete preconditions")
    old = blob_store.write("x", b"1")
    current = blob_store.write("x", b"2")
    for wrong in (old, 0):
        with pytest.raises(PreconditionFailed):
            blob_store.delete("x", if_generation_match=wrong)
    assert blob_store.read("x").data == b"2"
    blob_store.delete("x", if_generation_match=current)
    assert not blob_store.exists("x")


def test_delete_with_current_generation(blob_store: BlobStore) -> None:
    current = blob_store.write("x", b"1")
    blob_store.delete("x", if_generation_match=current)
    assert not blob_store.exists("x")


def test_delete_without_precondition(blob_store: BlobStore) -> None:
    blob_store.write("a/b", b"1")
    blob_store.delete("a/b")
    assert not blob_store.exists("a/b")
    assert _names(blob_store, "") == []


def test_deleted_then_recreated_object_gets_larger_generation(blob_store: BlobStore) -> None:
    first = blob_store.write("named/foo", b"1")
    blob_store.delete("named/foo")
    second = blob_store.write("named/foo", b"2", if_generation_match=0)
    assert second > first


# --- missing objects ---


@pytest.mark.parametrize("name", ["missing", "fiddle/nope/draw.py"])
def test_missing_object_raises_not_found(blob_store: BlobStore, name: str) -> None:
    with pytest.raises(NotFound):
        blob_store.read(name)
    with pytest.raises(NotFound):
        blob_store.stat(name)
    with pytest.raises(NotFound):
        blob_store.delete(name)
    assert not blob_store.exists(name)


def test_a_prefix_is_not_an_object(blob_store: BlobStore) -> None:
    blob_store.write("fiddle/abc/draw.py", b"x")
    for name in ("fiddle", "fiddle/abc"):
        with pytest.raises(NotFound):
            blob_store.read(name)
        with pytest.raises(NotFound):
            blob_store.delete(name)


# --- listing ---

_TREE = [
    "fiddle/ab12/draw.py",
    "fiddle/ab12/2024-01-01T00:00:00Z-87.5/cpu.png",
    "fiddle/ab12/2024-01-01T00:00:00Z-87.5/gpu.png",
    "fiddle/ab34/draw.py",
    "fiddle/cd56/draw.py",
    "named/cat",
    "source/1",
    "source/10",
    "source/2",
    "source/lastid.txt",
]


@pytest.fixture
def tree(blob_store: BlobStore) -> BlobStore:
    for i, name in enumerate(_TREE):
        blob_store.write(name, name.encode(), metadata={"i": str(i)})
    return blob_store


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("", sorted(_TREE)),
        ("fiddle/", sorted(n for n in _TREE if n.startswith("fiddle/"))),
        ("fiddle/ab", sorted(n for n in _TREE if n.startswith("fiddle/ab"))),
        ("fiddle/ab12/", sorted(n for n in _TREE if n.startswith("fiddle/ab12/"))),
        ("fiddle/ab12/2024", [_TREE[1], _TREE[2]]),
        ("fid", sorted(n for n in _TREE if n.startswith("fiddle/"))),
        ("source/1", ["source/1", "source/10"]),
        ("named/cat", ["named/cat"]),
        ("fiddle/zz", []),
        ("nothing/", []),
        ("named/cat/", []),
    ],
)
def test_list_by_prefix(tree: BlobStore, prefix: str, expected: list[str]) -> None:
    assert _names(tree, prefix) == expected


def test_list_returns_full_info(tree: BlobStore) -> None:
    infos = list(tree.list("source/"))
    assert infos == [tree.stat(info.name) for info in infos]
    assert infos[0] == BlobInfo("source/1", infos[0].generation, 8, {"i": "6"})


def test_list_sorts_by_full_name_across_directories(blob_store: BlobStore) -> None:
    # '-' < '.' < '/' < '0': a naive per-directory walk would put "a/b" first.
    names = ["a0", "a/b", "a.b", "a-", "a/a/z", "a/~", "b"]
    for name in names:
        blob_store.write(name, b"")
    assert _names(blob_store, "") == sorted(names)
    assert _names(blob_store, "a") == sorted(n for n in names if n.startswith("a"))


def test_list_skips_deleted(tree: BlobStore) -> None:
    tree.delete("source/2")
    assert _names(tree, "source/") == ["source/1", "source/10", "source/lastid.txt"]


@pytest.mark.parametrize("prefix", ["../", "a//", "/etc/", "a/./", "x\\y/", "a/../"])
def test_list_with_impossible_prefix_is_empty(tree: BlobStore, prefix: str) -> None:
    assert _names(tree, prefix) == []


# --- hostile names ---

_BAD_NAMES = [
    "",
    "../x",
    "..",
    ".",
    "/etc/passwd",
    "a/../../b",
    "a//b",
    "a/./b",
    "a/",
    "a\x00b",
    "a\\b",
    "..\\x",
    "a\nb",
    "x" * 1025,
]


@pytest.mark.parametrize("name", _BAD_NAMES)
def test_hostile_names_raise_invalid_name(blob_store: BlobStore, name: str) -> None:
    with pytest.raises(InvalidName):
        blob_store.write(name, b"x")
    with pytest.raises(InvalidName):
        blob_store.read(name)
    with pytest.raises(InvalidName):
        blob_store.stat(name)
    with pytest.raises(InvalidName):
        blob_store.delete(name)
    assert _names(blob_store, "") == []


# --- races: many writers, one object ---

COUNTER_THREADS = 16
INCREMENTS_PER_THREAD = 8
CREATORS = 32


def test_threads_incrementing_a_counter_lose_no_update(blob_store: BlobStore) -> None:
    name = "source/lastid.txt"
    blob_store.write(name, b"0", if_generation_match=0)
    start = threading.Barrier(COUNTER_THREADS)

    def increment() -> list[int]:
        written = []
        start.wait()
        for _ in range(INCREMENTS_PER_THREAD):
            while True:
                current = blob_store.read(name)
                value = int(current.data) + 1
                try:
                    blob_store.write(
                        name, str(value).encode(), if_generation_match=current.generation
                    )
                except PreconditionFailed:
                    continue  # somebody wrote since we read: read again
                written.append(value)
                break
        return written

    with ThreadPoolExecutor(COUNTER_THREADS) as pool:
        results = list(pool.map(lambda _: increment(), range(COUNTER_THREADS)))
    total = COUNTER_THREADS * INCREMENTS_PER_THREAD
    # Each value was written by exactly one thread, and the last one is what the store holds.
    assert sorted(v for values in results for v in values) == list(range(1, total + 1))
    assert blob_store.read(name).data == str(total).encode()


def test_threads_racing_to_create_exactly_one_wins(blob_store: BlobStore) -> None:
    name = "named/example"
    start = threading.Barrier(CREATORS)

    def create(i: int) -> str:
        start.wait()
        try:
            blob_store.write(name, f"hash-{i}".encode(), if_generation_match=0)
        except PreconditionFailed:
            return "lost"
        return f"hash-{i}"

    with ThreadPoolExecutor(CREATORS) as pool:
        outcomes = list(pool.map(create, range(CREATORS)))
    counts = Counter("lost" if o == "lost" else "won" for o in outcomes)
    assert counts == {"won": 1, "lost": CREATORS - 1}
    (winner,) = (o for o in outcomes if o != "lost")
    assert blob_store.read(name).data == winner.encode()


# --- choosing the backend ---


def test_factory_makes_a_gcs_store_on_the_bucket(request: pytest.FixtureRequest) -> None:
    fixture_store: GcsBlobStore = request.getfixturevalue("gcs_blob_store")
    fixture_store.write("named/cat", b"abc")
    # The factory's own client, which finds the emulator through STORAGE_EMULATOR_HOST.
    store = make_blob_store(Settings(blob_store="gcs", bucket=fixture_store.bucket_name))
    assert isinstance(store, GcsBlobStore)
    assert store.read("named/cat").data == b"abc"


def test_factory_makes_a_memory_store_of_its_own_per_app() -> None:
    first, second = (make_blob_store(Settings(blob_store="memory")) for _ in range(2))
    assert isinstance(first, MemoryBlobStore) and isinstance(second, MemoryBlobStore)
    first.write("named/cat", b"abc")
    assert not second.exists("named/cat")


def test_factory_refuses_an_unknown_store() -> None:
    with pytest.raises(ValueError, match="use local, memory or gcs"):
        make_blob_store(Settings(blob_store="s3"))


def test_factory_refuses_gcs_without_a_bucket() -> None:
    with pytest.raises(ValueError, match="FIDDLE_BUCKET"):
        make_blob_store(Settings(blob_store="gcs", bucket=""))


# --- the local directory store only ---


@pytest.mark.parametrize("name", ["x" * 256, "a/" + "é" * 128, "bad\udcffsurrogate"])
def test_local_names_the_filesystem_cannot_hold(local_store: LocalBlobStore, name: str) -> None:
    with pytest.raises(InvalidName):
        local_store.write(name, b"x")


def test_local_symlinked_directory_is_not_followed(
    local_store: LocalBlobStore, tmp_path: pathlib.Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"top secret")
    (local_store.root / "objects" / "evil").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidName):
        local_store.read("evil/secret")
    with pytest.raises(InvalidName):
        local_store.write("evil/planted", b"x")
    with pytest.raises(InvalidName):
        local_store.write("evil/secret", b"overwritten")
    with pytest.raises(InvalidName):
        local_store.delete("evil/secret")
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").read_bytes() == b"top secret"
    assert _names(local_store, "") == []
    assert _names(local_store, "evil/") == []


def test_local_symlinked_file_is_not_followed(
    local_store: LocalBlobStore, tmp_path: pathlib.Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"top secret")
    (local_store.root / "objects" / "leak").symlink_to(secret)
    with pytest.raises(InvalidName):
        local_store.read("leak")
    with pytest.raises(InvalidName):
        local_store.write("leak", b"overwritten")
    assert secret.read_bytes() == b"top secret"
    assert _names(local_store, "") == []


def test_local_generations_survive_restart(local_store: LocalBlobStore) -> None:
    gen = local_store.write("source/lastid.txt", b"7", metadata={"k": "v"})
    reopened = LocalBlobStore(local_store.root)
    assert reopened.stat("source/lastid.txt").generation == gen
    assert reopened.read("source/lastid.txt").metadata == {"k": "v"}
    newer = reopened.write("source/lastid.txt", b"8", if_generation_match=gen)
    assert newer > gen


def test_local_object_and_prefix_cannot_share_a_name(local_store: LocalBlobStore) -> None:
    local_store.write("a", b"file")
    with pytest.raises(InvalidName):
        local_store.write("a/b", b"x")
    local_store.write("c/d", b"x")
    with pytest.raises(InvalidName):
        local_store.write("c", b"x")
    assert _names(local_store, "") == ["a", "c/d"]
    assert os.listdir(local_store.root / "tmp") == []


def test_local_internal_files_are_never_listed(local_store: LocalBlobStore) -> None:
    local_store.write("x/y", b"1")
    (local_store.root / "tmp" / "w-leftover").write_bytes(b"half")
    assert os.listdir(local_store.root / "locks")
    assert _names(local_store, "") == ["x/y"]


def test_local_on_disk_path_mirrors_the_name(local_store: LocalBlobStore) -> None:
    local_store.write("fiddle/abc/draw.py", b"print(1)")
    content = (local_store.root / "objects" / "fiddle" / "abc" / "draw.py").read_bytes()
    assert content.endswith(b"print(1)")


def test_local_durable_mode_roundtrip(tmp_path: pathlib.Path) -> None:
    store = LocalBlobStore(tmp_path / "store", durable=True)
    gen = store.write("a/b", b"data", if_generation_match=0)
    assert store.read("a/b").data == b"data"
    store.delete("a/b", if_generation_match=gen)
    assert not store.exists("a/b")


def test_metadata_must_be_strings(blob_store: BlobStore) -> None:
    with pytest.raises(TypeError):
        blob_store.write("x", b"", metadata={"n": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        blob_store.write("x", b"", content_type=None)  # type: ignore[arg-type]
    assert not blob_store.exists("x")


def test_a_read_is_a_copy(blob_store: BlobStore) -> None:
    blob_store.write("x", b"data", metadata={"a": "1"})
    blob_store.read("x").metadata["a"] = "changed"
    next(iter(blob_store.list("x"))).metadata["a"] = "changed"
    assert blob_store.read("x").metadata == {"a": "1"}


def test_local_metadata_must_be_strings(local_store: LocalBlobStore) -> None:
    with pytest.raises(TypeError):
        local_store.write("x", b"", metadata={"n": 1})  # type: ignore[dict-item]
    assert not local_store.exists("x")


# --- what the service keeps through the interface, on every backend (issue 18) ---


def _source_images(store: BlobStore, tmp_path: pathlib.Path) -> SourceImages:
    """The source images over `store`; seeding uses the stores only, never the runner."""
    documents = SqliteDocumentStore(tmp_path / f"docs-{uuid.uuid4().hex}.sqlite3")
    fiddles = FiddleRepository(store)
    limits = ClientLimits(StorageQuota(0), FairShare(0), 0)
    runner = HttpRunnerClient(("http://127.0.0.1:9",))
    return SourceImages(store, documents, SourceRuns(fiddles, documents), runner, limits)


def test_builtin_sources_are_seeded_once(blob_store: BlobStore, tmp_path: pathlib.Path) -> None:
    sources = _source_images(blob_store, tmp_path)
    assert sources.seed_builtins() == [1, 2, 3, 4, 5, 6]
    names = _names(blob_store, "")
    for source in BUILTIN_SOURCES:
        blob = blob_store.read(f"source/{source.id}")
        assert blob.data == image_path(source.id).read_bytes()
        assert blob.metadata == {"creator": "fiddle", "builtin": "true"}
        assert blob.content_type == "image/png"
        assert {f"thumbnail/{source.id}/{size}.png" for size in (64, 128, 256)} <= set(names)
    assert blob_store.read("source/lastid.txt").data == b"6"
    generations = {info.name: info.generation for info in blob_store.list("")}
    # Seeding again (every app start) reads the last id and writes nothing.
    assert sources.seed_builtins() == []
    assert {info.name: info.generation for info in blob_store.list("")} == generations
    assert sources.ids() == [1, 2, 3, 4, 5, 6]


def test_concurrent_seeding_and_numbering_never_collide(
    blob_store: BlobStore, tmp_path: pathlib.Path
) -> None:
    """Instances starting at once seed together while uploads take ids: each built-in stored
    once, uploads from 7 without gaps, the last id the largest."""
    seeders = [_source_images(blob_store, tmp_path) for _ in range(4)]
    start = threading.Barrier(12)

    def seed(sources: SourceImages) -> list[int]:
        start.wait()
        return sources.seed_builtins()

    def take_id(_: int) -> int:
        start.wait()
        return seeders[0]._next_id()

    with ThreadPoolExecutor(12) as pool:
        seeded = [pool.submit(seed, sources) for sources in seeders]
        taken = [pool.submit(take_id, i) for i in range(8)]
    assert sorted(future.result() for future in taken) == list(range(7, 15))
    assert all(set(future.result()) <= set(range(1, 7)) for future in seeded)
    for source in BUILTIN_SOURCES:
        assert blob_store.read(f"source/{source.id}").data == image_path(source.id).read_bytes()
    assert blob_store.read("source/lastid.txt").data == b"14"


def test_seeding_fills_only_ids_never_used(blob_store: BlobStore, tmp_path: pathlib.Path) -> None:
    """A store whose uploads took ids 1 to 3 before built-ins existed keeps them."""
    for source_id in (1, 2, 3):
        blob_store.write(f"source/{source_id}", b"upload", metadata={"creator": "alice"})
    blob_store.write("source/lastid.txt", b"3")
    assert _source_images(blob_store, tmp_path).seed_builtins() == [4, 5, 6]
    assert [blob_store.read(f"source/{i}").data for i in (1, 2, 3)] == [b"upload"] * 3
    assert blob_store.read("source/lastid.txt").data == b"6"


def test_seeding_leaves_a_store_past_the_builtins_alone(
    blob_store: BlobStore, tmp_path: pathlib.Path
) -> None:
    blob_store.write("source/lastid.txt", b"9")
    assert _source_images(blob_store, tmp_path).seed_builtins() == []
    assert _names(blob_store, "") == ["source/lastid.txt"]


def test_seeding_never_replaces_an_image_in_its_way(
    blob_store: BlobStore, tmp_path: pathlib.Path
) -> None:
    """An id taken by an upload of an older version while this one seeds stays that upload."""
    blob_store.write("source/2", b"upload", metadata={"creator": "alice"})
    sources = _source_images(blob_store, tmp_path)
    assert sources.seed_builtins() == [1, 3, 4, 5, 6]
    assert blob_store.read("source/2").data == b"upload"
    assert not _names(blob_store, "thumbnail/2/") and 2 not in sources.ids()


ALIAS_CODE = "def draw(canvas):\n    canvas.clear(0xFFFF0000)\n"


def test_a_fiddle_is_found_by_both_hash_forms(blob_store: BlobStore) -> None:
    fiddles = FiddleRepository(blob_store)
    options = FiddleOptions(width=100)
    canonical, other = fiddle_hash(ALIAS_CODE, options), skia_hash(ALIAS_CODE, options)
    fiddles.save_code(canonical, ALIAS_CODE, options)
    assert blob_store.read(f"alias/{other}").data == canonical.encode()
    for reference in (canonical, other):
        found = fiddles.lookup(reference, fiddles.load)
        assert found is not None and found[0] == canonical and found[1].code == ALIAS_CODE
    assert fiddles.lookup("0" * 32, fiddles.load) is None
    assert fiddles.alias_target(canonical) is None


def test_racing_writers_of_one_alias_write_it_once(blob_store: BlobStore) -> None:
    fiddles = FiddleRepository(blob_store)
    canonical, other = "a" * 32, "b" * 32
    start = threading.Barrier(CREATORS)

    def write(_: int) -> bool:
        start.wait()
        return fiddles.save_alias(canonical, other)

    with ThreadPoolExecutor(CREATORS) as pool:
        written = list(pool.map(write, range(CREATORS)))
    assert written.count(True) == 1
    assert fiddles.alias_target(other) == canonical


def test_an_alias_holding_anything_but_a_hash_leads_nowhere(blob_store: BlobStore) -> None:
    fiddles = FiddleRepository(blob_store)
    blob_store.write("alias/" + "c" * 32, b"../../etc/passwd")
    assert fiddles.alias_target("c" * 32) is None
    assert fiddles.lookup("c" * 32, fiddles.load) is None
