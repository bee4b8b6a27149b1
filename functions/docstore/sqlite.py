"""The local document store: one SQLite file in WAL mode under the data directory.

One table holds every document as JSON text; queries filter and sort with json_extract. A second,
one-row table holds the version sequence, so versions increase across the whole file and are never
reused (not even when a document is deleted and created again).

Threads: each thread gets its own connection, and writers in one process queue on a lock (cheaper
than SQLite's sleeping busy handler). Processes: every write is one `BEGIN IMMEDIATE` transaction,
which takes the file's write lock before reading, so read-check-write sequences are atomic.
A forked child (a pre-forking server) opens connections of its own; as SQLite requires, no thread
may be inside a write at the moment of the fork.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from functions.docstore.base import (
    AlreadyExists,
    Conflict,
    DocStoreError,
    DocStoreFull,
    DocStoreUnavailable,
    Document,
    DocumentStore,
    InvalidArgument,
    NotFound,
    Where,
    check_collection,
    check_data,
    check_id,
    check_query,
    check_version,
    json_dumps,
)

BUSY_TIMEOUT_SECONDS = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data)),
    version INTEGER NOT NULL,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS docstore_sequence (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO docstore_sequence (name, value) VALUES ('version', 0);
"""

# Firestore's order of types: null < bool < number < string < array < map.
_TYPE_RANK = (
    "CASE json_type(data, ?) WHEN 'null' THEN 0 WHEN 'false' THEN 1 WHEN 'true' THEN 1"
    " WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3 WHEN 'array' THEN 4 ELSE 5 END"
)

_UNREAD: Any = object()


def _canonical(data: Any) -> str:
    """Equal for equal documents: map keys unordered, but 1, 1.0 and true distinct."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# One lock per database file for the writers of this process, shared by every store instance.
_write_locks: dict[Path, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def _write_lock(path: Path) -> threading.Lock:
    with _write_locks_guard:
        return _write_locks.setdefault(path, threading.Lock())


def _forget_locks_after_fork() -> None:
    # A child gets copies of the parent's locks, maybe held by threads it does not have.
    global _write_locks_guard
    _write_locks_guard = threading.Lock()
    _write_locks.clear()


os.register_at_fork(after_in_child=_forget_locks_after_fork)


class SqliteDocumentStore(DocumentStore):
    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_guard = threading.Lock()
        self._lock = _write_lock(self.path)
        self._closed = False
        self._pid = os.getpid()
        with self._lock:
            conn = self._connection()
            # WAL is a property of the file: readers never block the writer and vice versa.
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise DocStoreError(f"{self.path}: cannot switch to WAL mode (got {mode!r})")
            conn.execute("BEGIN IMMEDIATE")
            try:
                # (executescript() would commit on its own: run the statements one by one.)
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    # --- connections and transactions ---

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise DocStoreError("the document store is closed")
        if os.getpid() != self._pid:
            # Forked (e.g. a pre-forking server): SQLite connections must not cross a fork, and a
            # lock may have been copied while held. Start afresh without touching the parent's.
            self._pid = os.getpid()
            self._local = threading.local()
            self._connections = []
            self._connections_guard = threading.Lock()
            self._lock = _write_lock(self.path)
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # autocommit; write transactions are explicit
                check_same_thread=False,  # only close() touches another thread's connection
            )
            conn.execute("PRAGMA synchronous=NORMAL")  # durable across crashes of the process
            self._local.conn = conn
            with self._connections_guard:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()  # first: after a fork it replaces the lock
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise _failed(f"{self.path}: cannot start a write", error) from error
            try:
                yield conn
            except sqlite3.OperationalError as error:
                _rollback(conn)
                raise _failed(f"{self.path}: write failed", error) from error
            except BaseException:
                _rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as error:
                _rollback(conn)
                raise _failed(f"{self.path}: commit failed", error) from error

    @staticmethod
    def _next_version(conn: sqlite3.Connection) -> int:
        row = conn.execute(
            "UPDATE docstore_sequence SET value = value + 1 WHERE name = 'version' RETURNING value"
        ).fetchone()
        return int(row[0])

    @staticmethod
    def _read(conn: sqlite3.Connection, collection: str, doc_id: str) -> tuple[str, int] | None:
        row = conn.execute(
            "SELECT data, version FROM documents WHERE collection = ? AND id = ?",
            (collection, doc_id),
        ).fetchone()
        return None if row is None else (row[0], int(row[1]))

    def _save(
        self,
        conn: sqlite3.Connection,
        collection: str,
        doc_id: str,
        data: dict[str, Any],
        row: tuple[str, int] | None = _UNREAD,
    ) -> int:
        """Create or replace the document and return its version. A write that changes nothing
        keeps the version, as Firestore keeps the update time."""
        if row is _UNREAD:
            row = self._read(conn, collection, doc_id)
        if row is not None and _canonical(json.loads(row[0])) == _canonical(data):
            return row[1]
        version = self._next_version(conn)
        conn.execute(
            "INSERT INTO documents (collection, id, data, version) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (collection, id) DO UPDATE"
            " SET data = excluded.data, version = excluded.version",
            (collection, doc_id, json_dumps(data), version),
        )
        return version

    def close(self) -> None:
        with self._connections_guard:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # --- the interface ---

    def get(self, collection: str, doc_id: str) -> Document | None:
        check_collection(collection)
        check_id(doc_id)
        row = self._read(self._connection(), collection, doc_id)
        return None if row is None else Document(doc_id, json.loads(row[0]), str(row[1]))

    def create(self, collection: str, doc_id: str, data: Mapping[str, Any]) -> Document:
        check_collection(collection)
        check_id(doc_id)
        copy = check_data(data)
        with self._write() as conn:
            if self._read(conn, collection, doc_id) is not None:
                raise AlreadyExists(f"{collection}/{doc_id} exists")
            version = self._next_version(conn)
            conn.execute(
                "INSERT INTO documents (collection, id, data, version) VALUES (?, ?, ?, ?)",
                (collection, doc_id, json_dumps(copy), version),
            )
        return Document(doc_id, copy, str(version))

    def put(self, collection: str, doc_id: str, data: Mapping[str, Any]) -> Document:
        check_collection(collection)
        check_id(doc_id)
        copy = check_data(data)
        with self._write() as conn:
            version = self._save(conn, collection, doc_id, copy)
        return Document(doc_id, copy, str(version))

    def update(
        self,
        collection: str,
        doc_id: str,
        data: Mapping[str, Any],
        *,
        if_version: str | None = None,
    ) -> Document:
        check_collection(collection)
        check_id(doc_id)
        fields = check_data(data)
        check_version(if_version)
        if not fields:
            raise InvalidArgument("update() needs at least one field")
        with self._write() as conn:
            row = self._check_current(conn, collection, doc_id, if_version)
            merged = check_data({**json.loads(row[0]), **fields})  # (still under the size limit)
            version = self._save(conn, collection, doc_id, merged, row)
        return Document(doc_id, merged, str(version))

    def delete(self, collection: str, doc_id: str, *, if_version: str | None = None) -> None:
        check_collection(collection)
        check_id(doc_id)
        check_version(if_version)
        with self._write() as conn:
            self._check_current(conn, collection, doc_id, if_version)
            conn.execute(
                "DELETE FROM documents WHERE collection = ? AND id = ?", (collection, doc_id)
            )

    def _check_current(
        self, conn: sqlite3.Connection, collection: str, doc_id: str, if_version: str | None
    ) -> tuple[str, int]:
        row = self._read(conn, collection, doc_id)
        if row is None:
            raise NotFound(f"{collection}/{doc_id} does not exist")
        if if_version is not None and if_version != str(row[1]):
            raise Conflict(
                f"{collection}/{doc_id} is at version {row[1]}, not {if_version!r}: written since"
            )
        return row

    def query(
        self,
        collection: str,
        *,
        where: Sequence[Where] = (),
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        check_collection(collection)
        filters = check_query(where, order_by, descending, limit)
        sql = ["SELECT id, data, version FROM documents WHERE collection = ?"]
        params: list[Any] = [collection]
        for field, op, value in filters:
            condition, condition_params = _condition(f"$.{field}", op, value)
            sql.append(f"AND {condition}")
            params.extend(condition_params)
        direction = "DESC" if descending else "ASC"
        if order_by is not None:
            path = f"$.{order_by}"
            sql.append("AND json_type(data, ?) IS NOT NULL")
            sql.append(f"ORDER BY {_TYPE_RANK} {direction}, json_extract(data, ?) {direction},")
            params.extend([path, path, path])
        else:
            sql.append("ORDER BY")
        sql.append(f"id {direction}")
        if limit is not None:
            sql.append("LIMIT ?")
            params.append(limit)
        rows = self._connection().execute(" ".join(sql), params).fetchall()
        return [Document(row[0], json.loads(row[1]), str(row[2])) for row in rows]


def _failed(what: str, error: sqlite3.Error) -> DocStoreError:
    """The store's error for SQLite's: a full disk, or a database that cannot be written now."""
    code = getattr(error, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        return DocStoreFull(f"{what}: {error}")
    return DocStoreUnavailable(f"{what}: {error}")


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # SQLite already rolled back (e.g. after SQLITE_FULL); keep the first error


def _typed(value_sql: str, type_sql: str, op: str, value: Any) -> tuple[str, list[Any]]:
    """A comparison that, like Firestore, only matches values of the same type."""
    if value is None:
        return f"{type_sql} = 'null'", []
    if isinstance(value, bool):
        return f"{type_sql} = '{'true' if value else 'false'}'", []
    if isinstance(value, int | float):
        return f"({type_sql} IN ('integer', 'real') AND {value_sql} {op} ?)", [value]
    return f"({type_sql} = 'text' AND {value_sql} {op} ?)", [value]


def _condition(path: str, op: str, value: Any) -> tuple[str, list[Any]]:
    sql_op = "=" if op == "==" else op
    condition, params = _typed("json_extract(data, ?)", "json_type(data, ?)", sql_op, value)
    # Each json_type/json_extract call takes the path as its parameter, in order.
    return f"({condition})", [path] * condition.count("(data, ?)") + params
