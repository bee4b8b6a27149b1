"""What every DocumentStore backend must do (SQLite, and Firestore on the official emulator), plus
what only the SQLite file adds (processes sharing it, WAL, reopening)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from functions.docstore import (
    AlreadyExists,
    Conflict,
    DocStoreError,
    Document,
    DocumentStore,
    InvalidArgument,
    NotFound,
    make_document_store,
)
from functions.docstore.sqlite import SqliteDocumentStore
from tests.firestore_emulator import (  # noqa: F401 - fixtures
    FirestoreEmulator,
    _firestore_session_client,
    firestore_client,
    firestore_emulator,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", "firestore"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    backend: DocumentStore
    if request.param == "sqlite":
        backend = SqliteDocumentStore(tmp_path / "docs.sqlite3")
        yield backend
        backend.close()
    else:
        from functions.docstore.firestore import FirestoreDocumentStore

        client = request.getfixturevalue("firestore_client")
        yield FirestoreDocumentStore(client, prefix="t_")


def _race(workers: int, job: Callable[[int], Any]) -> list[Any]:
    """Run job(i) for i in range(workers) in as many threads released at once; return results
    (or the exceptions raised) in order."""
    barrier = threading.Barrier(workers)

    def run(i: int) -> Any:
        barrier.wait()
        try:
            return job(i)
        except Exception as error:
            return error

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, range(workers)))


# --- reading and writing ---


def test_get_missing_is_none(store: DocumentStore) -> None:
    assert store.get("users", "nobody") is None


def test_create_then_get(store: DocumentStore) -> None:
    data = {"name": "ann", "hash": "$argon2id$...", "role": "admin"}
    doc = store.create("users", "ann", data)
    assert doc == Document("ann", data, doc.version)
    assert isinstance(doc.version, str) and doc.version
    assert store.get("users", "ann") == doc


def test_create_existing_raises_and_keeps_the_first(store: DocumentStore) -> None:
    first = store.create("named", "cat", {"hash": "a" * 32})
    with pytest.raises(AlreadyExists):
        store.create("named", "cat", {"hash": "b" * 32})
    assert store.get("named", "cat") == first


def test_every_json_like_value_round_trips(store: DocumentStore) -> None:
    data = {
        "str": "ünïcode ✓ 🎨",
        "empty_str": "",
        "int": 42,
        "neg": -7,
        "big": 2**63 - 1,
        "small": -(2**63),
        "float": 0.1,
        "whole_float": 2.0,
        "true": True,
        "false": False,
        "none": None,
        "list": [1, "two", 3.5, None, True, {"in": "map"}],
        "empty_list": [],
        "map": {"nested": {"deeper": [1, 2]}, "key with spaces.and.dots": 1},
        "empty_map": {},
        "dotted.key": "a literal key, not a path",
    }
    store.put("misc", "all", data)
    got = store.get("misc", "all")
    assert got is not None
    assert got.data == data
    assert type(got.data["whole_float"]) is float
    assert type(got.data["int"]) is int


def test_stored_data_is_a_copy(store: DocumentStore) -> None:
    data: dict[str, Any] = {"tags": ["a"], "meta": {"k": 1}}
    doc = store.create("misc", "x", data)
    data["tags"].append("b")
    data["meta"]["k"] = 2
    assert doc.data == {"tags": ["a"], "meta": {"k": 1}}
    got = store.get("misc", "x")
    assert got is not None and got.data == {"tags": ["a"], "meta": {"k": 1}}


def test_put_creates_and_replaces_whole(store: DocumentStore) -> None:
    first = store.put("users", "bob", {"name": "bob", "role": "user", "old": 1})
    second = store.put("users", "bob", {"name": "bob", "role": "admin"})
    assert second.version != first.version
    assert store.get("users", "bob") == Document(
        "bob", {"name": "bob", "role": "admin"}, second.version
    )


def test_collections_are_separate(store: DocumentStore) -> None:
    store.put("users", "same", {"a": 1})
    store.put("tokens", "same", {"b": 2})
    assert store.get("users", "same").data == {"a": 1}  # type: ignore[union-attr]
    assert store.get("tokens", "same").data == {"b": 2}  # type: ignore[union-attr]
    assert [d.id for d in store.query("users")] == ["same"]


# --- update ---


def test_update_sets_top_level_fields_and_keeps_the_rest(store: DocumentStore) -> None:
    store.create("jobs", "j1", {"state": "queued", "meta": {"a": 1, "b": 2}, "keep": True})
    doc = store.update("jobs", "j1", {"state": "running", "meta": {"a": 9}, "new": None})
    expected = {"state": "running", "meta": {"a": 9}, "keep": True, "new": None}
    assert doc.data == expected  # a map value replaces the field whole
    assert store.get("jobs", "j1") == doc


def test_update_keys_are_literal_field_names(store: DocumentStore) -> None:
    store.create("misc", "k", {"a": {"b": 1}, "a.b": 2})
    doc = store.update("misc", "k", {"a.b": 3, "odd `key`\\": 4, "ünï": 5})
    assert doc.data == {"a": {"b": 1}, "a.b": 3, "odd `key`\\": 4, "ünï": 5}
    assert store.get("misc", "k") == doc


def test_update_missing_raises_not_found(store: DocumentStore) -> None:
    with pytest.raises(NotFound):
        store.update("jobs", "ghost", {"state": "running"})
    assert store.get("jobs", "ghost") is None


def test_update_with_current_version_succeeds(store: DocumentStore) -> None:
    doc = store.create("jobs", "j", {"state": "queued"})
    updated = store.update("jobs", "j", {"state": "running"}, if_version=doc.version)
    assert updated.version != doc.version
    done = store.update("jobs", "j", {"state": "done"}, if_version=updated.version)
    assert store.get("jobs", "j") == done


def test_update_with_stale_version_conflicts(store: DocumentStore) -> None:
    doc = store.create("jobs", "j", {"state": "queued"})
    current = store.update("jobs", "j", {"state": "running", "worker": "a"})
    with pytest.raises(Conflict):
        store.update("jobs", "j", {"state": "running", "worker": "b"}, if_version=doc.version)
    assert store.get("jobs", "j") == current


def test_update_with_version_of_missing_document_is_not_found(store: DocumentStore) -> None:
    doc = store.create("jobs", "j", {"state": "queued"})
    store.delete("jobs", "j")
    with pytest.raises(NotFound):
        store.update("jobs", "j", {"state": "running"}, if_version=doc.version)


def test_update_with_a_string_that_is_no_version_conflicts(store: DocumentStore) -> None:
    store.create("jobs", "j", {"state": "queued"})
    for bogus in ("", "nonsense", "0", "1970-01-01T00:00:00Z"):
        with pytest.raises(Conflict):
            store.update("jobs", "j", {"state": "x"}, if_version=bogus)
    with pytest.raises(NotFound):
        store.update("jobs", "nope", {"state": "x"}, if_version="nonsense")


def test_recreated_document_never_reuses_a_version(store: DocumentStore) -> None:
    old = store.create("named", "n", {"hash": "1"})
    store.delete("named", "n")
    new = store.create("named", "n", {"hash": "1"})
    assert new.version != old.version
    with pytest.raises(Conflict):
        store.update("named", "n", {"hash": "2"}, if_version=old.version)


def test_versions_change_on_every_write(store: DocumentStore) -> None:
    versions = [store.put("misc", "v", {"i": 0}).version]
    for i in range(1, 6):
        versions.append(store.update("misc", "v", {"i": i}).version)
    store.delete("misc", "v")
    versions.append(store.create("misc", "v", {"i": 0}).version)
    assert len(set(versions)) == len(versions)


def test_a_write_that_changes_nothing_keeps_the_version(store: DocumentStore) -> None:
    first = store.put("misc", "same", {"a": 1, "m": {"x": [1, 2], "y": None}})
    assert store.put("misc", "same", {"m": {"y": None, "x": [1, 2]}, "a": 1}) == first
    assert store.update("misc", "same", {"a": 1}) == first
    assert store.update("misc", "same", {"a": 1}, if_version=first.version) == first
    assert store.get("misc", "same") == first
    # Types count: 1.0 and true are changes from 1.
    as_float = store.update("misc", "same", {"a": 1.0})
    assert as_float.version != first.version
    assert store.update("misc", "same", {"a": True}).version != as_float.version


# --- delete ---


def test_delete(store: DocumentStore) -> None:
    store.create("users", "gone", {"a": 1})
    store.delete("users", "gone")
    assert store.get("users", "gone") is None
    with pytest.raises(NotFound):
        store.delete("users", "gone")


def test_delete_with_versions(store: DocumentStore) -> None:
    doc = store.create("users", "u", {"a": 1})
    current = store.update("users", "u", {"a": 2})
    with pytest.raises(Conflict):
        store.delete("users", "u", if_version=doc.version)
    assert store.get("users", "u") == current
    store.delete("users", "u", if_version=current.version)
    assert store.get("users", "u") is None
    with pytest.raises(NotFound):
        store.delete("users", "u", if_version=current.version)


# --- add and query ---


def test_add_makes_distinct_random_ids(store: DocumentStore) -> None:
    docs = [store.add("audit", {"i": i}) for i in range(5)]
    assert len({d.id for d in docs}) == 5
    assert all(re.fullmatch(r"[A-Za-z0-9]{20}", d.id) for d in docs)
    for doc in docs:
        assert store.get("audit", doc.id) == doc


def test_audit_log_newest_first(store: DocumentStore) -> None:
    for i, who in enumerate(["ann", "bob", "ann", "cy", "ann"]):
        store.add("audit", {"who": who, "what": f"action {i}", "time": 1_700_000_000.5 + i})
    newest = store.query("audit", order_by="time", descending=True, limit=3)
    assert [d.data["what"] for d in newest] == ["action 4", "action 3", "action 2"]
    everything = store.query("audit", order_by="time", descending=True)
    assert [d.data["what"] for d in everything] == [f"action {i}" for i in range(4, -1, -1)]
    by_ann = store.query("audit", where=[("who", "==", "ann")], order_by="time", descending=True)
    assert [d.data["what"] for d in by_ann] == ["action 4", "action 2", "action 0"]


def test_query_without_order_goes_by_id(store: DocumentStore) -> None:
    for doc_id in ["b", "a", "c", "B", "ä"]:
        store.put("named", doc_id, {"x": 1})
    assert [d.id for d in store.query("named")] == ["B", "a", "b", "c", "ä"]
    assert [d.id for d in store.query("named", limit=2)] == ["B", "a"]
    assert store.query("empty") == []


def test_query_equality_is_typed(store: DocumentStore) -> None:
    values: dict[str, Any] = {
        "int": 1, "float": 1.0, "true": True, "str": "1", "none": None, "list": [1], "zero": 0,
    }  # fmt: skip
    for doc_id, value in values.items():
        store.put("misc", doc_id, {"v": value})
    store.put("misc", "missing", {"other": 1})

    def ids(value: Any) -> list[str]:
        return [d.id for d in store.query("misc", where=[("v", "==", value)])]

    assert ids(1) == ["float", "int"]  # numbers compare as numbers, 1 == 1.0
    assert ids(1.0) == ["float", "int"]
    assert ids(True) == ["true"]
    assert ids(False) == []
    assert ids("1") == ["str"]
    assert ids(None) == ["none"]
    assert ids(0) == ["zero"]


def test_query_less_than_is_typed(store: DocumentStore) -> None:
    values: dict[str, Any] = {
        "a1": 1, "a2": 2.5, "a3": 10, "b": True, "s1": "apple", "s2": "banana", "n": None,
    }  # fmt: skip
    for doc_id, value in values.items():
        store.put("misc", doc_id, {"v": value})

    def ids(op: str, value: Any) -> list[str]:
        return sorted(d.id for d in store.query("misc", where=[("v", op, value)]))

    assert ids("<", 10) == ["a1", "a2"]
    assert ids("<", 2.5) == ["a1"]
    assert ids("<", 1) == []
    assert ids("<", "b") == ["s1"]
    assert ids("<", "zz") == ["s1", "s2"]
    assert ids("<", "") == []


def test_expired_documents_are_found_by_time(store: DocumentStore) -> None:
    """How sign-in failure counters are swept: every document that expired before now."""
    for i, expires in enumerate([100, 250.5, 300, 99.9]):
        store.put("signin_failures", f"c{i}", {"window": 1, "count": 1, "expires": expires})
    expired = store.query("signin_failures", where=[("expires", "<", 250.5)], limit=20)
    assert sorted(d.id for d in expired) == ["c0", "c3"]  # (Firestore orders them by "expires")


def test_query_combines_filters_and_nested_fields(store: DocumentStore) -> None:
    store.put("jobs", "a", {"state": "queued", "meta": {"prio": 1, "user": "ann"}})
    store.put("jobs", "b", {"state": "queued", "meta": {"prio": 5, "user": "bob"}})
    store.put("jobs", "c", {"state": "done", "meta": {"prio": 9, "user": "ann"}})
    store.put("jobs", "d", {"state": "queued", "meta": "flat"})
    where = [("state", "==", "queued"), ("meta.user", "==", "ann")]
    assert [d.id for d in store.query("jobs", where=where)] == ["a"]
    queued = store.query(
        "jobs", where=[("state", "==", "queued")], order_by="meta.prio", descending=True
    )
    assert [d.id for d in queued] == ["b", "a"]  # "d" has no meta.prio


def test_order_by_leaves_out_missing_fields_and_orders_types(store: DocumentStore) -> None:
    values: dict[str, Any] = {
        "m": {"a": 1}, "l": [1], "s": "a", "t": "b", "f": 1.5, "i": 2, "true": True,
        "false": False, "n": None,
    }  # fmt: skip
    for doc_id, value in values.items():
        store.put("misc", doc_id, {"v": value})
    store.put("misc", "nov", {"other": 1})
    ordered = [d.id for d in store.query("misc", order_by="v")]
    assert ordered == ["n", "false", "true", "f", "i", "s", "t", "l", "m"]
    assert [d.id for d in store.query("misc", order_by="v", descending=True)] == ordered[::-1]


def test_order_by_ties_go_by_id_in_the_same_direction(store: DocumentStore) -> None:
    for doc_id in ["c", "a", "b"]:
        store.put("misc", doc_id, {"t": 1})
    store.put("misc", "z", {"t": 0})
    assert [d.id for d in store.query("misc", order_by="t")] == ["z", "a", "b", "c"]
    assert [d.id for d in store.query("misc", order_by="t", descending=True)] == [
        "c", "b", "a", "z",
    ]  # fmt: skip
    assert [d.id for d in store.query("misc", order_by="t", limit=2)] == ["z", "a"]


def test_query_returns_versions(store: DocumentStore) -> None:
    doc = store.create("misc", "x", {"a": 1})
    (found,) = store.query("misc", where=[("a", "==", 1)])
    assert found == doc
    store.update("misc", "x", {"a": 1}, if_version=found.version)


def test_job_lifecycle(store: DocumentStore) -> None:
    """Jobs: queued -> running -> done, claimed with if_version so one worker wins; a crashed
    worker's job is found again by its state and lease time."""
    for i in range(3):
        store.create("jobs", f"job{i}", {"state": "queued", "created": i, "lease_until": 0})
    (oldest,) = store.query("jobs", where=[("state", "==", "queued")], order_by="created", limit=1)
    claimed = store.update(
        "jobs", oldest.id, {"state": "running", "lease_until": 100}, if_version=oldest.version
    )
    with pytest.raises(Conflict):  # a second worker with the same read loses
        store.update("jobs", oldest.id, {"state": "running"}, if_version=oldest.version)
    # After a crash: running jobs whose lease ran out are taken over.
    stale = store.query("jobs", where=[("state", "==", "running"), ("lease_until", "<", 200)])
    assert stale == [claimed]
    store.update("jobs", "job0", {"state": "done"}, if_version=claimed.version)
    states = {d.id: d.data["state"] for d in store.query("jobs")}
    assert states == {"job0": "done", "job1": "queued", "job2": "queued"}


# --- bad input ---


@pytest.mark.parametrize(
    ("doc_id", "message"),
    [
        ("", "must not be empty"),
        ("a/b", "must not contain '/'"),
        ("/", "must not contain '/'"),
        (".", "reserved"),
        ("..", "reserved"),
        ("__x__", "reserved"),
        ("x" * 1501, "at most 1500 bytes"),
        ("\ud800", "not valid Unicode"),
        (5, "strings, not int"),
        (None, "strings, not NoneType"),
    ],
)
def test_bad_ids_are_refused_clearly(store: DocumentStore, doc_id: Any, message: str) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: store.get("users", doc_id),
        lambda: store.create("users", doc_id, {}),
        lambda: store.put("users", doc_id, {}),
        lambda: store.update("users", doc_id, {"a": 1}),
        lambda: store.delete("users", doc_id),
    ]
    for call in calls:
        with pytest.raises(InvalidArgument, match=re.escape(message)):
            call()
    assert store.query("users") == []


def test_long_but_valid_ids_work(store: DocumentStore) -> None:
    for doc_id in ["x" * 1500, "with space", "ünï", "a.b", "-", "__x", "x__"]:
        store.put("misc", doc_id, {"id": doc_id})
        assert store.get("misc", doc_id).data == {"id": doc_id}  # type: ignore[union-attr]


@pytest.mark.parametrize("collection", ["", "a/b", "1abc", "has space", "x" * 101, None, "_x"])
def test_bad_collections_are_refused(store: DocumentStore, collection: Any) -> None:
    with pytest.raises(InvalidArgument, match="invalid collection name"):
        store.get(collection, "a")
    with pytest.raises(InvalidArgument, match="invalid collection name"):
        store.query(collection)
    with pytest.raises(InvalidArgument, match="invalid collection name"):
        store.add(collection, {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "is a dict"),
        ("text", "is a dict"),
        ({1: "a"}, "non-empty strings"),
        ({"": 1}, "non-empty strings"),
        ({"__name__": 1}, "reserved"),
        ({"a": {"__x__": 1}}, "reserved"),
        ({"a": [[1]]}, "cannot directly contain a list"),
        ({"a": float("nan")}, "NaN"),
        ({"a": float("inf")}, "NaN"),
        ({"a": 2**63}, "64 bits"),
        ({"a": b"bytes"}, "not JSON-like"),
        ({"a": (1, 2)}, "not JSON-like"),
        ({"a": {1, 2}}, "not JSON-like"),
        ({"a": object()}, "not JSON-like"),
        ({"a": "\udcff"}, "not valid Unicode"),
        ({"a": "x" * 1_000_001}, "limited to about"),
    ],
)
def test_bad_data_is_refused(store: DocumentStore, data: Any, message: str) -> None:
    store.create("misc", "exists", {"ok": 1})
    for call in (
        lambda: store.create("misc", "new", data),
        lambda: store.put("misc", "new", data),
        lambda: store.update("misc", "exists", data),
        lambda: store.add("misc", data),
    ):
        with pytest.raises(InvalidArgument, match=re.escape(message)):
            call()
    assert [d.id for d in store.query("misc")] == ["exists"]
    assert store.get("misc", "exists").data == {"ok": 1}  # type: ignore[union-attr]


def test_update_needs_a_field_and_a_string_version(store: DocumentStore) -> None:
    store.create("misc", "x", {"a": 1})
    with pytest.raises(InvalidArgument, match="at least one field"):
        store.update("misc", "x", {})
    with pytest.raises(InvalidArgument, match="versions are strings"):
        store.update("misc", "x", {"a": 2}, if_version=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="versions are strings"):
        store.delete("misc", "x", if_version=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"where": [("a", "like", 1)]}, "unknown operator"),
        ({"where": [("a", ">", 1)]}, "unknown operator"),
        ({"where": [("a", "in", [1])]}, "unknown operator"),
        ({"where": [("a", "array_contains", 1)]}, "unknown operator"),
        ({"where": [("a", "==")]}, "(field, op, value)"),
        ({"where": "a == 1"}, "list of (field, op, value)"),
        ({"where": [("a b", "==", 1)]}, "invalid field"),
        ({"where": [("", "==", 1)]}, "invalid field"),
        ({"where": [("a..b", "==", 1)]}, "invalid field"),
        ({"where": [("a", "<", None)]}, "cannot compare"),
        ({"where": [("a", "<", True)]}, "cannot compare"),
        ({"where": [("a", "==", [1])]}, "cannot compare"),
        ({"where": [("a", "==", {"b": 1})]}, "cannot compare"),
        ({"where": [("a", "<", [1])]}, "cannot compare"),
        ({"order_by": "a/b"}, "invalid field"),
        ({"descending": True}, "descending needs order_by"),
        ({"descending": 1, "order_by": "a"}, "descending is a bool"),
        ({"limit": 0}, "positive integer"),
        ({"limit": -1}, "positive integer"),
        ({"limit": True}, "positive integer"),
        ({"limit": "3"}, "positive integer"),
    ],
)
def test_bad_queries_are_refused(
    store: DocumentStore, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        store.query("misc", **kwargs)


def test_errors_are_docstore_errors() -> None:
    for error in (AlreadyExists, NotFound, Conflict, InvalidArgument):
        assert issubclass(error, DocStoreError)
    assert issubclass(InvalidArgument, ValueError)


# --- concurrency ---


def test_16_threads_racing_create_give_one_winner(store: DocumentStore) -> None:
    results = _race(16, lambda i: store.create("named", "cat", {"hash": f"h{i}"}))
    winners = [r for r in results if isinstance(r, Document)]
    losers = [r for r in results if isinstance(r, AlreadyExists)]
    assert (len(winners), len(losers)) == (1, 15), results
    assert store.get("named", "cat") == winners[0]


def test_optimistic_read_modify_write_loses_nothing(store: DocumentStore) -> None:
    """A counter: read, write back with if_version, retry on Conflict."""
    store.create("counters", "rmw", {"n": 0, "log": []})
    conflicts = 0
    guard = threading.Lock()

    def bump(i: int) -> None:
        nonlocal conflicts
        for j in range(5):
            while True:
                doc = store.get("counters", "rmw")
                assert doc is not None
                try:
                    store.update(
                        "counters",
                        "rmw",
                        {"n": doc.data["n"] + 1, "log": [*doc.data["log"], f"{i}.{j}"]},
                        if_version=doc.version,
                    )
                    break
                except Conflict:
                    with guard:
                        conflicts += 1

    results = _race(8, bump)
    assert results == [None] * 8
    final = store.get("counters", "rmw")
    assert final is not None
    assert final.data["n"] == 40
    assert sorted(final.data["log"]) == sorted(f"{i}.{j}" for i in range(8) for j in range(5))


def test_racing_claims_of_one_job_give_one_winner(store: DocumentStore) -> None:
    job = store.create("jobs", "j", {"state": "queued"})
    results = _race(
        8,
        lambda i: store.update(
            "jobs", "j", {"state": "running", "worker": i}, if_version=job.version
        ),
    )
    winners = [r for r in results if isinstance(r, Document)]
    assert len(winners) == 1 and all(
        isinstance(r, Conflict) for r in results if r is not winners[0]
    ), results
    assert store.get("jobs", "j") == winners[0]


def test_racing_deletes_give_one_winner(store: DocumentStore) -> None:
    doc = store.create("named", "x", {"hash": "h"})
    results = _race(8, lambda i: store.delete("named", "x", if_version=doc.version))
    assert results.count(None) == 1
    assert all(isinstance(r, NotFound | Conflict) for r in results if r is not None), results
    assert store.get("named", "x") is None


# --- SQLite only: the file ---


def bump(store: DocumentStore, doc_id: str) -> None:
    """A counter as every caller keeps one: read, write back with if_version, retry on Conflict
    (the child processes below import it from here)."""
    while True:
        doc = store.get("counters", doc_id)
        try:
            if doc is None:
                store.create("counters", doc_id, {"n": 1})
            else:
                store.update("counters", doc_id, {"n": doc.data["n"] + 1}, if_version=doc.version)
            return
        except (AlreadyExists, Conflict):
            continue


_INCREMENT_SCRIPT = """
from tests.test_docstore_contract import bump
import sys, threading, time
from pathlib import Path
from functions.docstore.sqlite import SqliteDocumentStore

store = SqliteDocumentStore(Path(sys.argv[1]))
ready = Path(sys.argv[2])
ready.touch()
while not Path(sys.argv[3]).exists():
    time.sleep(0.001)
def work():
    for _ in range(50):
        bump(store, "shared")
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


def test_two_processes_counting_in_one_sqlite_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _INCREMENT_SCRIPT,
                str(path),
                str(tmp_path / f"ready{i}"),
                str(go),
            ],
            env=env,
        )
        for i in range(2)
    ]
    try:
        in_process = SqliteDocumentStore(path)
        while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
            assert all(p.poll() is None for p in processes), "a child died while starting"
            time.sleep(0.01)
        go.touch()
        for _ in range(100):  # this process joins in too
            bump(in_process, "shared")
        assert [p.wait(timeout=60) for p in processes] == [0, 0]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    assert in_process.get("counters", "shared").data == {"n": 500}  # type: ignore[union-attr]
    in_process.close()


_FORK_SCRIPT = """
from tests.test_docstore_contract import bump
import os, sys, threading
from pathlib import Path
from functions.docstore.sqlite import SqliteDocumentStore

store = SqliteDocumentStore(Path(sys.argv[1]))
bump(store, "forked")  # the parent has used its connection
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        def work():
            for _ in range(50):
                bump(store, "forked")
        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads: t.start()
        for t in threads: t.join()
        os._exit(0)
    children.append(pid)
for _ in range(50):
    bump(store, "forked")
assert all(os.waitpid(pid, 0)[1] == 0 for pid in children)
print(store.get("counters", "forked").data["n"])
"""


def test_sqlite_store_survives_a_fork(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT, str(tmp_path / "f.sqlite3")],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "351"


def test_sqlite_file_is_wal_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "docs.sqlite3"
    first = SqliteDocumentStore(path)
    doc = first.create("users", "ann", {"role": "admin"})
    first.close()
    second = SqliteDocumentStore(path)
    assert second.get("users", "ann") == doc
    assert int(second.put("users", "bob", {}).version) > int(doc.version)
    import sqlite3

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    second.close()
    with pytest.raises(DocStoreError, match="closed"):
        second.get("users", "ann")


def test_sqlite_versions_are_increasing_integers(tmp_path: Path) -> None:
    store = SqliteDocumentStore(tmp_path / "v.sqlite3")
    other = SqliteDocumentStore(tmp_path / "v.sqlite3")  # a second instance on the same file
    versions = [
        int(store.create("a", "x", {}).version),
        int(other.put("b", "y", {}).version),
        int(store.update("a", "x", {"k": 1}).version),
    ]
    store.delete("a", "x")
    versions.append(int(other.create("a", "x", {}).version))
    assert versions == sorted(versions) and len(set(versions)) == 4
    store.close()
    other.close()


# --- the factory ---


def test_factory_makes_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    store = make_document_store("sqlite", tmp_path / "data", "")
    assert isinstance(store, SqliteDocumentStore)
    assert store.path == (tmp_path / "data" / "fiddle.sqlite3").resolve()
    store.close()


def test_factory_refuses_unknown_kinds_and_firestore_without_project(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown document store 'mongo'"):
        make_document_store("mongo", tmp_path, "p")
    with pytest.raises(ValueError, match="GOOGLE_CLOUD_PROJECT"):
        make_document_store("firestore", tmp_path, "")


def test_factory_makes_firestore(request: pytest.FixtureRequest) -> None:
    from functions.docstore.firestore import FirestoreDocumentStore

    emulator: FirestoreEmulator = request.getfixturevalue("firestore_emulator")
    client = request.getfixturevalue("firestore_client")

    store = make_document_store("firestore", Path("unused"), emulator.project)
    assert isinstance(store, FirestoreDocumentStore)
    doc = store.create("users", "ann", {"role": "user"})
    # Unprefixed: the document is where other Firestore tools look for it.
    snapshot = client.collection("users").document("ann").get()
    assert snapshot.to_dict() == {"role": "user"}
    assert store.get("users", "ann") == doc
    store.close()
