"""SQL helpers shared by the read model, the key store and the seal: engines and upserts."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url


def sqlalchemy_url(url: str | URL) -> URL:
    """The same database for SQLAlchemy (psycopg 3 driver for PostgreSQL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    return parsed.set(drivername="sqlite")


def create_engine(url: str) -> Engine:
    """A SQLAlchemy engine on the hub's database (the same one the event store uses)."""
    target = sqlalchemy_url(url)
    dumps = lambda obj: json.dumps(obj, ensure_ascii=False, separators=(",", ":"))  # noqa: E731
    if target.get_backend_name() == "sqlite":
        return sa.create_engine(target, json_serializer=dumps, connect_args={"timeout": 30})
    return sa.create_engine(target, json_serializer=dumps, pool_pre_ping=True, pool_size=5,
                            max_overflow=10)


def upsert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str],
           update: bool = True) -> None:
    """Insert rows, replacing (or keeping) existing rows with the same key, on either backend.

    On PostgreSQL the rows go as one statement of column arrays (`unnest_upsert`): the
    projection writes thousands of rows a batch, and row-by-row parameters cost more than the
    database's work. An engine or connection with the execution option `portable_upsert`
    takes the SQLAlchemy statement instead, as SQLite always does."""
    if not rows:
        return
    portable = conn.get_execution_options().get("portable_upsert")
    if conn.dialect.name == "postgresql" and not portable:
        statement = _unnest_statement(conn.dialect, table, tuple(rows[0]), tuple(keys), update)
        if statement is not None:
            unnest_upsert(conn, statement, rows, keys, update)
            return
    stmt = dialect_insert(conn, table)
    if update:
        columns = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_=columns)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, rows)


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """An INSERT with the dialect's ON CONFLICT clauses (PostgreSQL and SQLite both have them)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


@dataclass(frozen=True)
class DriverStatement:
    """A statement SQLAlchemy cannot cache (it compiles an INSERT ... SELECT ... ON CONFLICT
    anew on every call, "[no key]" in its log), compiled once for a dialect and run as the
    driver's own SQL with SQLAlchemy's rendering of its parameters."""

    sql: str
    literals: dict[str, Any]  # the statement's own values (`sa.literal`)
    order: tuple[str, ...] | None  # parameter order for a positional driver (SQLite)

    @classmethod
    def compile(cls, statement: Any, dialect: sa.Dialect) -> DriverStatement:
        compiled = statement.compile(dialect=dialect)
        literals = {name: bind.effective_value for bind, name in compiled.bind_names.items()
                    if not bind.required}
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        return cls(compiled.string, literals, order)

    def execute(self, conn: Connection, params: dict[str, Any]) -> sa.CursorResult[Any]:
        values = {**self.literals, **params}
        if self.order is None:
            return conn.exec_driver_sql(self.sql, values)
        return conn.exec_driver_sql(self.sql, tuple(values[name] for name in self.order))


@dataclass(frozen=True)
class UnnestStatement:
    """An INSERT ... SELECT FROM unnest(column arrays) ... ON CONFLICT for one table and one set
    of columns, and which of those columns hold JSON."""

    sql: str
    columns: tuple[str, ...]
    json_columns: frozenset[str]


# PostgreSQL array types for the column types the read model uses; a column of any other type
# (or one SQLAlchemy converts before binding) keeps the SQLAlchemy statement. Strings go as
# text, so the column's own length check still applies on assignment.
_ARRAY_TYPES: tuple[tuple[type[Any], str], ...] = (
    (sa.JSON, "json[]"), (sa.String, "text[]"), (sa.BigInteger, "int8[]"),
    (sa.Integer, "int4[]"), (sa.DateTime, "timestamp[]"), (sa.Date, "date[]"))


def _array_type(dialect: sa.Dialect, column: sa.Column[Any]) -> str | None:
    kind = column.type
    if isinstance(kind, sa.DateTime) and kind.timezone:
        return None
    if not isinstance(kind, sa.JSON) and kind.dialect_impl(dialect).bind_processor(dialect) is not None:
        return None
    return next((name for cls, name in _ARRAY_TYPES if isinstance(kind, cls)), None)


@functools.lru_cache(maxsize=256)
def _unnest_statement(dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...],
                      keys: tuple[str, ...], update: bool) -> UnnestStatement | None:
    """The statement for rows with these columns (every column of the table), or None when a
    column's type is not one `unnest_upsert` binds as SQLAlchemy would."""
    if set(columns) != {c.name for c in table.columns} or not set(keys) <= set(columns):
        return None
    types = [_array_type(dialect, table.c[name]) for name in columns]
    if None in types:
        return None
    quote = dialect.identifier_preparer.quote
    target = ", ".join(quote(name) for name in columns)
    arrays = ", ".join(f"%b::{kind}" for kind in types)
    conflict = ", ".join(quote(name) for name in keys)
    rest = [name for name in columns if name not in keys]
    action = ("DO UPDATE SET " + ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in rest)
              if update and rest else "DO NOTHING")
    sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({target}) "
           f"SELECT * FROM unnest({arrays}) ON CONFLICT ({conflict}) {action}")
    json_columns = frozenset(n for n in columns if isinstance(table.c[n].type, sa.JSON))
    return UnnestStatement(sql, columns, json_columns)


def unnest_upsert(conn: Connection, statement: UnnestStatement, rows: list[dict[str, Any]],
                  keys: list[str], update: bool) -> None:
    """Write the rows as one statement of column arrays, as the SQLAlchemy upsert would.

    Row by row, a later row with a key already written replaces it (update) or is ignored.
    DO NOTHING ignores it within one statement too; DO UPDATE may touch each key only once,
    so for an update the last row of each key is kept first. JSON columns are serialised with
    the engine's own serialiser, so the stored text is the same."""
    kept = rows
    if update:
        if len(keys) == 1:
            (key,) = keys
            unique = {row[key]: row for row in rows}
        else:
            unique = {tuple(row[k] for k in keys): row for row in rows}
        if len(unique) < len(rows):
            kept = list(unique.values())
    dumps = conn.dialect._json_serializer or json.dumps  # type: ignore[attr-defined]
    arrays = tuple([dumps(row[name]) for row in kept] if name in statement.json_columns
                   else [row[name] for row in kept] for name in statement.columns)
    conn.exec_driver_sql(statement.sql, arrays)


@contextlib.contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """Writes (never reads) sent without waiting for each one's result, on PostgreSQL: the
    database works on one statement while Python prepares the next. Errors surface when the
    block ends, as SQLAlchemy's, so transient ones are retried like any other."""
    if conn.dialect.name != "postgresql" or conn.get_execution_options().get("portable_upsert"):
        yield
        return
    raw = conn.connection.driver_connection
    try:
        with raw.pipeline():
            yield
    except sa.exc.DBAPIError:
        raise
    except raw.Error as error:
        raise sa.exc.DBAPIError.instance(None, None, error, raw.Error,
                                          dialect=conn.dialect) from error


def utc_naive(value: datetime | str | None) -> datetime | None:
    """Instants are stored as naive UTC so both backends order them the same way."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
