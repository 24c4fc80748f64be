"""Database engine and sessions.

SQLite is tuned for several concurrent workers: WAL, a busy timeout, foreign keys, and
`BEGIN IMMEDIATE` for write transactions so that two writers queue instead of failing with
"database is locked" when the second one upgrades its read lock.

The pool is sized from the number of requests served at once (`pool_size`): one connection for
each, and as many again for the short write transaction a read request may open beside its
own (recording a token's or a session's activity). A request never waits for a connection
while another one holds SQLite's write lock or a PostgreSQL row lock waiting for a thread.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from psycopg import pq as psycopg_pq
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from labelflow.settings import DEFAULT_REQUESTS_IN_FLIGHT

WRITE_OPTION = "labelflow_write"
READ_OPTION = "labelflow_read"
SINGLE_OPTION = "labelflow_single_statement"  # no BEGIN: `single_read`


def make_engine(
    url: str,
    *,
    busy_timeout_ms: int = 15_000,
    pool_size: int = DEFAULT_REQUESTS_IN_FLIGHT,
    pool_timeout: float = 5.0,
    echo: bool = False,
) -> Engine:
    """An engine whose pool serves `pool_size` concurrent requests (see the module's note)."""
    pool: dict[str, Any] = {
        "poolclass": QueuePool,
        "pool_size": pool_size,
        "max_overflow": pool_size,
        "pool_timeout": pool_timeout,
    }
    if not url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, **pool)
        _ping_idle_connections(engine)
        return engine

    if make_url(url).database in (None, "", ":memory:"):
        pool = {}  # one private database per connection: SQLAlchemy's own pool for it
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        **pool,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred only).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(SINGLE_OPTION):
            return  # one statement: its own snapshot, in SQLite's autocommit
        mode = "IMMEDIATE" if options.get(WRITE_OPTION) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


# A pooled connection idle for this long is pinged before it is handed out: the database
# restarted meanwhile, a fresh connection replaces it and no request sees the dead one. One
# used more recently is not: SQLAlchemy's pre-ping was a round trip per request (55 µs of the
# served process's CPU) under load, when a connection that has just answered is alive. One
# that dies within the second fails its request (503) and SQLAlchemy renews the whole pool.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "labelflow_idle_since"


def _ping_idle_connections(engine: Engine) -> None:
    def idle(_dbapi_conn: Any, record: Any, *_: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            _select_one(engine, dbapi_conn)
        except Exception as exc:
            # The pool drops this connection and hands out a new one (three tries).
            raise DisconnectionError("connexion perdue") from exc

    event.listen(engine, "connect", idle)
    event.listen(engine, "checkin", idle)
    event.listen(engine, "checkout", checkout)


def _select_one(engine: Engine, dbapi: Any) -> None:
    """`SELECT 1` on a DB-API connection outside any transaction; raises when it fails."""
    pgconn = getattr(dbapi, "pgconn", None)
    if pgconn is not None:  # psycopg: libpq's own call, without a cursor (a third of it)
        result = pgconn.exec_(b"SELECT 1")
        if result.status != psycopg_pq.ExecStatus.TUPLES_OK:
            raise engine.dialect.loaded_dbapi.OperationalError(pgconn.get_error_message())
        return
    cursor = dbapi.cursor()
    try:
        cursor.execute("SELECT 1")
        cursor.fetchall()
    finally:
        cursor.close()


def pool_capacity(engine: Engine) -> int | None:
    """How many requests the engine's pool serves at once (None: not a sized pool)."""
    pool = engine.pool
    return pool.size() if isinstance(pool, QueuePool) else None


def write_engine(engine: Engine) -> Engine:
    """The same pool, flagged so that SQLite takes the write lock at BEGIN."""
    return engine.execution_options(**{WRITE_OPTION: True})


_READ_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def read_engine(engine: Engine) -> Engine:
    """The same pool, for a read request's session (flagged: the tests refuse a write there).

    On PostgreSQL in autocommit: at READ COMMITTED every statement sees what was committed
    before it started, inside a transaction or not, so a read sees the same and saves the
    BEGIN and COMMIT round trips (about 45 µs of the served process's CPU per request). On
    SQLite the deferred transaction stays: its BEGIN is a local call, and it gives the
    request's statements one snapshot.
    """
    found = _READ_ENGINES.get(engine)
    if found is None:
        options: dict[str, Any] = {READ_OPTION: True}
        if engine.dialect.name == "postgresql":
            options["isolation_level"] = "AUTOCOMMIT"
        found = _READ_ENGINES[engine] = engine.execution_options(**options)
    return found


_SINGLE_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def single_read(engine: Engine) -> Connection:
    """A connection of the read engine for one statement, outside any transaction and any ORM
    session (on SQLite without BEGIN: a statement is its own snapshot; on PostgreSQL in
    autocommit, as every read): the short path's one statement (`web/kept.py`)."""
    found = _SINGLE_ENGINES.get(engine)
    if found is None:
        found = _SINGLE_ENGINES[engine] = read_engine(engine).execution_options(
            **{SINGLE_OPTION: True}
        )
    return found.connect()


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """One unit of work outside HTTP (CLI, demo, tests): commit on success, roll back on error."""
    bind = write_engine(engine) if write else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class _Pinger:
    """The health check's connection: one per engine, outside its pool, in autocommit.

    A load balancer polls `/healthz`. Through the pool, PostgreSQL's `SELECT 1` cost four
    round trips (a ping at checkout, the statement's implicit BEGIN, the statement, the
    reset's ROLLBACK on return) and 240 µs of CPU; here one round trip, 20 µs. A connection
    that fails is dropped and one new connection is tried at once, as the pool's checkout
    does: the check fails exactly while the database does not answer.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lock = threading.Lock()
        self.dbapi: Any = None
        event.listen(engine, "engine_disposed", lambda _conn: self.close())

    def _connect(self) -> Any:
        pooled = self.engine.raw_connection()  # the engine's connect events run (pragmas)
        dbapi = pooled.dbapi_connection
        assert dbapi is not None
        pooled.detach()  # closed by us, never handed back to the pool
        self.engine.dialect.set_isolation_level(dbapi, "AUTOCOMMIT")
        return dbapi

    def close(self) -> None:
        with self.lock:
            self._drop()

    def _drop(self) -> None:
        dbapi, self.dbapi = self.dbapi, None
        if dbapi is not None:
            with suppress(Exception):
                dbapi.close()

    def __call__(self) -> None:
        errors = self.engine.dialect.loaded_dbapi.Error
        with self.lock:
            for attempt in (1, 2):
                reused = self.dbapi is not None
                try:
                    if self.dbapi is None:
                        self.dbapi = self._connect()
                    _select_one(self.engine, self.dbapi)
                    return
                except errors as exc:
                    self._drop()
                    if attempt == 2 or not reused:
                        raise DBAPIError.instance(
                            "SELECT 1", None, exc, errors, connection_invalidated=True
                        ) from exc


_pingers: weakref.WeakKeyDictionary[Engine, _Pinger] = weakref.WeakKeyDictionary()
_pingers_lock = threading.Lock()


def ping(engine: Engine) -> None:
    """A trivial round trip (the health check): raises when the database is unreachable.

    The pool's own errors are SQLAlchemy's, as any query's (`OperationalError`, its connection
    invalidated, for a database that does not answer)."""
    pinger = _pingers.get(engine)
    if pinger is None:
        with _pingers_lock:
            pinger = _pingers.get(engine) or _pingers.setdefault(engine, _Pinger(engine))
    pinger()
