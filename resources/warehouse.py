"""The DuckDB warehouse: one file written only by Dagster, one read-only snapshot for everyone else.

DuckDB lets one process open a file read-write or several open it read-only, never both. So:

* writers take an inter-process file lock, open the file, run one short transaction, checkpoint,
  close, and then publish a snapshot: a byte copy renamed over `snapshot` (atomic on POSIX);
* readers (the app, ad-hoc SQL, and Python assets reading upstream tables) open the snapshot
  read-only. A reader that has the old snapshot open keeps reading the old file; the next open
  sees the new one. Readers never take the lock, so they neither block nor are blocked.

A table is replaced inside one transaction, so after a crash either the old or the new table is
there, never half of one. Slow work happens before `write_table` is called, never inside it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Literal, Sequence

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from filelock import FileLock
from scipy import stats

from resources.settings import Settings, load_settings

TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
WRITE_LOCK_TIMEOUT_S = 900


# --- scalar functions SQL needs for p-values (vectorised over Arrow arrays) ----------------
def _unary(fn):
    def udf(x: pa.Array) -> pa.Array:
        values = x.to_numpy(zero_copy_only=False).astype(float)
        return pa.array(fn(values), mask=np.isnan(values) | _nulls(x))

    return udf


def _binary(fn):
    def udf(x: pa.Array, df: pa.Array) -> pa.Array:
        a = x.to_numpy(zero_copy_only=False).astype(float)
        b = df.to_numpy(zero_copy_only=False).astype(float)
        out = fn(a, b)
        return pa.array(out, mask=np.isnan(out) | _nulls(x) | _nulls(df))

    return udf


def _nulls(arr: pa.Array) -> np.ndarray:
    return arr.is_null().to_numpy(zero_copy_only=False)


def _ternary(fn):
    def udf(x: pa.Array, y: pa.Array, z: pa.Array) -> pa.Array:
        args = [a.to_numpy(zero_copy_only=False).astype(float) for a in (x, y, z)]
        out = fn(*args)
        return pa.array(out, mask=np.isnan(out) | _nulls(x) | _nulls(y) | _nulls(z))

    return udf


def _wilson(sign: float):
    """Wilson score interval bound for k successes in n trials (95%)."""
    z = stats.norm.ppf(0.975)

    def bound(k: np.ndarray, n: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            p = k / n
            centre = (p + z * z / (2 * n)) / (1 + z * z / n)
            half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
            return np.where(n > 0, centre + sign * half, np.nan)

    return bound


UDFS = {
    # name: (function, argument count, what it is)
    "norm_sf": (_unary(stats.norm.sf), 1, "P(Z > z) for a standard normal Z"),
    "norm_cdf": (_unary(stats.norm.cdf), 1, "P(Z <= z) for a standard normal Z"),
    "norm_ppf": (_unary(stats.norm.ppf), 1, "standard normal quantile"),
    "t_sf": (_binary(stats.t.sf), 2, "P(T > t) for Student's t with df degrees of freedom"),
    "t_ppf": (_binary(stats.t.ppf), 2, "Student's t quantile with df degrees of freedom"),
    "chi2_sf": (_binary(stats.chi2.sf), 2, "P(X > x) for chi-squared with df degrees of freedom"),
    "binom_sf": (_ternary(stats.binom.sf), 3, "P(X > k) for X ~ Binomial(n, p): binom_sf(k, n, p)"),
    "wilson_low": (_binary(_wilson(-1.0)), 2, "lower end of the Wilson 95% interval for k of n"),
    "wilson_high": (_binary(_wilson(+1.0)), 2, "upper end of the Wilson 95% interval for k of n"),
}


def register_udfs(con: duckdb.DuckDBPyConnection) -> None:
    for name, (fn, arity, _) in UDFS.items():
        con.create_function(
            name, fn, [duckdb.sqltypes.DOUBLE] * arity, duckdb.sqltypes.DOUBLE,
            type="arrow", null_handling="special", side_effects=False,
        )


def connect_readonly(snapshot: str | os.PathLike, allowed_directories: Sequence[str] = ()) -> duckdb.DuckDBPyConnection:
    """A read-only, sandboxed connection to the published snapshot, with the p-value UDFs.

    DuckDB's external access is off and the configuration locked, so a query reads the snapshot's
    tables and nothing else: no files (read_csv, read_text, glob), no URLs, no ATTACH, INSTALL,
    LOAD or SET. `allowed_directories` ([readers] in the settings; empty by default) are folders
    a user deliberately opens to SQL.
    """
    path = Path(snapshot)
    if not path.exists():
        raise FileNotFoundError(
            f"no warehouse snapshot at {path}: materialize an asset first (make demo)"
        )
    # An in-memory instance of its own that attaches the snapshot: DuckDB shares one instance per
    # file within a process, and a locked configuration or registered function would carry over
    # to every other reader of that file.
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    quoted = str(path.resolve()).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS snapshot (READ_ONLY)")
    con.execute("USE snapshot")
    register_udfs(con)
    if allowed_directories:
        con.execute("SET allowed_directories = ?", [[str(Path(d).resolve()) + os.sep for d in allowed_directories]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


class ReadOnlyError(ValueError):
    """A statement that would change something or reach outside the warehouse, refused."""


@dataclass(frozen=True)
class ReaderResult:
    frame: pd.DataFrame  # at most the row cap
    total_rows: int      # what the query returned in all

    @property
    def truncated(self) -> bool:
        return self.total_rows > len(self.frame)


def readonly_query(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int = 10_000,
                   timeout_s: float = 30.0) -> ReaderResult:
    """Run one read-only statement (SELECT, WITH, PIVOT, DESCRIBE, SHOW, SUMMARIZE) for a person:
    at most `max_rows` rows kept (all of them counted), interrupted after `timeout_s` seconds.

    The sandboxed connection refuses writes, files and settings by itself; this also refuses
    every other kind of statement with a message that says why, before it runs.
    """
    import sqlglot
    from sqlglot import exp

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "falling back to a Command" is ours to say
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise ReadOnlyError(f"cannot parse the query (line {first.get('line', '?')}, column "
                            f"{first.get('col', '?')}): {first.get('description', 'syntax error')}") from None
    if len(statements) != 1:
        raise ReadOnlyError(f"send one statement at a time (got {len(statements)})")
    stmt = statements[0]
    is_summarize = stmt.key == "summarize" or (isinstance(stmt, exp.Command) and stmt.name.upper() == "SUMMARIZE")
    if not (isinstance(stmt, (exp.Query, exp.Pivot, exp.Describe, exp.Show)) or is_summarize):
        kind = (stmt.name if isinstance(stmt, exp.Command) else stmt.key).upper()
        raise ReadOnlyError(
            f"the warehouse is read-only here: {kind} statements are refused; "
            "only SELECT, WITH, PIVOT, DESCRIBE, SHOW and SUMMARIZE run. Tables change only through "
            "Dagster materializations."
        )
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.start()
    try:
        batches = con.sql(sql).to_arrow_reader(min(max_rows, 100_000) or 1)
        kept, total = [], 0
        for batch in batches:
            if total < max_rows:
                kept.append(batch.slice(0, max_rows - total))
            total += batch.num_rows
    except duckdb.InterruptException:
        raise ReadOnlyError(f"stopped after {timeout_s:g} s, the statement timeout for readers "
                            "([readers] timeout_s in the settings)") from None
    except duckdb.PermissionException as exc:
        raise ReadOnlyError(
            "readers see the warehouse's tables only: files, URLs and extensions are turned off "
            f"({str(exc).splitlines()[0]}); list a folder under [readers] allowed_directories to "
            "open it to SQL") from None
    finally:
        timer.cancel()
    frame = pa.Table.from_batches(kept, schema=batches.schema).to_pandas() if kept else \
        batches.schema.empty_table().to_pandas()
    return ReaderResult(frame=frame, total_rows=total)


def check_table_name(name: str) -> tuple[str, str]:
    if not TABLE_NAME.match(name):
        raise ValueError(f"table name {name!r} must look like 'schema.table' (lower case, digits, _)")
    schema, table = name.split(".")
    return schema, table


class Warehouse(dg.ConfigurableResource):
    """The DuckDB warehouse (paths from dagster_project.toml unless given here)."""

    settings_file: str = ""
    path: str = ""
    snapshot_path: str = ""

    @property
    def settings(self) -> Settings:
        return load_settings(self.settings_file or None)

    @property
    def db_path(self) -> Path:
        return Path(self.path) if self.path else self.settings.path("warehouse")

    @property
    def snapshot(self) -> Path:
        return Path(self.snapshot_path) if self.snapshot_path else self.settings.path("snapshot")

    # --- writing ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One short write transaction under the inter-process lock, then a new snapshot."""
        db = self.db_path
        db.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(db) + ".lock", timeout=WRITE_LOCK_TIMEOUT_S):
            con = duckdb.connect(str(db))
            try:
                register_udfs(con)
                con.execute("BEGIN TRANSACTION")
                try:
                    yield con
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("CHECKPOINT")
            finally:
                con.close()
            self._publish_snapshot(db)

    def _publish_snapshot(self, db: Path) -> None:
        snap = self.snapshot
        snap.parent.mkdir(parents=True, exist_ok=True)
        tmp = snap.with_name(f".{snap.name}.{os.getpid()}.tmp")
        shutil.copyfile(db, tmp)
        os.replace(tmp, snap)

    def write_table(
        self,
        name: str,
        frame: pd.DataFrame,
        mode: Literal["replace", "append", "upsert"] = "replace",
        key: Sequence[str] = (),
    ) -> int:
        """Replace, append to, or upsert (by `key` columns) table `schema.table`; returns its row count."""
        schema, table = check_table_name(name)
        if mode == "upsert" and not key:
            raise ValueError(f"write_table({name!r}, mode='upsert') needs key columns")
        missing = [k for k in key if k not in frame.columns]
        if missing:
            raise KeyError(f"write_table({name!r}): key column(s) {missing} not in the frame")
        with self.transaction() as con:
            con.register("incoming", frame)
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            if mode == "replace":
                con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming")
            else:
                con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM incoming LIMIT 0")
                if mode == "upsert":
                    match = " AND ".join(f"t.{k} IS NOT DISTINCT FROM i.{k}" for k in key)
                    con.execute(f"DELETE FROM {name} t WHERE EXISTS (SELECT 1 FROM incoming i WHERE {match})")
                con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM incoming")
            con.unregister("incoming")
            return self._log_write(con, name)

    def create_table_as(self, name: str, select_sql: str) -> int:
        """Materialize a SELECT as table `name`, atomically; returns the row count."""
        schema, _ = check_table_name(name)
        with self.transaction() as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(f"CREATE OR REPLACE TABLE {name} AS\n{select_sql}")
            return self._log_write(con, name)

    @staticmethod
    def _log_write(con: duckdb.DuckDBPyConnection, name: str) -> int:
        rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        con.execute(
            "CREATE SCHEMA IF NOT EXISTS core;"
            "CREATE TABLE IF NOT EXISTS core.materializations"
            " (table_name VARCHAR PRIMARY KEY, row_count BIGINT, materialized_at TIMESTAMPTZ)"
        )
        con.execute(
            "INSERT OR REPLACE INTO core.materializations VALUES (?, ?, ?)",
            [name, rows, datetime.now(timezone.utc)],
        )
        return rows

    # --- reading ----------------------------------------------------------------------------
    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to the latest snapshot (never blocks a writer)."""
        con = connect_readonly(self.snapshot)
        try:
            yield con
        finally:
            con.close()

    def query(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        with self.reader() as con:
            return con.execute(sql, params or []).df()

    def table_exists(self, name: str) -> bool:
        if not self.snapshot.exists():
            return False
        schema, table = check_table_name(name)
        with self.reader() as con:
            return bool(con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                [schema, table],
            ).fetchone()[0])


