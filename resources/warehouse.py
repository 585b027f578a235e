"""The warehouse, of the kind [warehouse] kind names.

"ducklake" (resources/lake.py): writers commit concurrently, readers read a consistent snapshot.
"duckdb", the default: one file written only by Dagster, one read-only snapshot for everyone else.
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

import json
import os
import re
import shutil
import threading
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from itertools import count
from pathlib import Path
from typing import Callable, Iterator, Literal, Sequence, TypeVar

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
from dagster_duckdb import DuckDBResource
from filelock import FileLock

from resources import lake
from resources.reader import newer_file_error, open_reader
from resources.settings import Settings, load_settings
from resources.sql_functions import register_udfs

T = TypeVar("T")
_retired = count()  # names of replaced snapshots, unique in this process
TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
WRITE_LOCK_TIMEOUT_S = 900
MATERIALIZATIONS = ("CREATE TABLE IF NOT EXISTS core.materializations (table_name VARCHAR NOT NULL, "
                    "row_count BIGINT, materialized_at TIMESTAMPTZ, run_id VARCHAR, layer VARCHAR, config VARCHAR, "
                    "snapshot_read BIGINT)")
MATERIALIZATIONS_ADDED = ("run_id VARCHAR", "layer VARCHAR", "config VARCHAR", "snapshot_read BIGINT")


def typed(frame: pd.DataFrame | pa.Table) -> pd.DataFrame | pa.Table:
    """An object column that is all None (no error in any row) becomes text: DuckDB 1.5 would
    guess INTEGER, and text functions on it (left(raw, 200)) would then fail to bind. (An Arrow
    table's columns are typed already.)"""
    if isinstance(frame, pa.Table):
        return frame
    empty = [c for c in frame.columns if frame[c].dtype == object and frame[c].isna().all()]
    return frame.astype({c: "string" for c in empty}) if empty else frame


def check_table_name(name: str) -> tuple[str, str]:
    if not TABLE_NAME.match(name):
        raise ValueError(f"table name {name!r} must look like 'schema.table' (lower case, digits, _)")
    schema, table = name.split(".")
    return schema, table


class Warehouse(DuckDBResource):
    """The DuckDB warehouse: dagster-duckdb's resource (its connection, retried while another
    process holds the file), with an inter-process write lock and a published read-only snapshot
    on top. `database` and `snapshot_path` default to the settings' paths."""

    database: str = ""
    settings_file: str = ""
    snapshot_path: str = ""

    @property
    def settings(self) -> Settings:
        return load_settings(self.settings_file or None)

    @property
    def db_path(self) -> Path:
        return Path(self.database) if self.database else self.settings.path("warehouse")

    @property
    def snapshot(self) -> Path:
        return Path(self.snapshot_path) if self.snapshot_path else self.settings.path("snapshot")

    @property
    def kind(self) -> str:
        return self.settings.warehouse.kind

    # --- writing ----------------------------------------------------------------------------
    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection. The file kind: under the inter-process write lock, and on a
        clean exit the file is checkpointed and a new snapshot published (keep the work short).
        DuckLake: no lock; each commit is a snapshot of its own."""
        if self.kind == "ducklake":
            con = lake.connect(self.settings)
            try:
                yield con
            finally:
                con.close()
            return
        db = self.db_path
        db.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(db) + ".lock", timeout=WRITE_LOCK_TIMEOUT_S):
            opened = DuckDBResource(database=str(db), connection_config=self.connection_config).get_connection()
            try:
                con = opened.__enter__()
            except duckdb.IOException as exc:
                raise newer_file_error(db, exc) from None
            try:
                register_udfs(con)
                yield con
                con.execute("CHECKPOINT")
            finally:
                con.close()  # dagster-duckdb closes only on a clean exit
            self._publish_snapshot(db)

    def commit(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `work(con)` as one transaction (all of it or none of it). On DuckLake a commit that
        lost a race with another writer is run again whole (every write here replaces by key)."""
        def attempt() -> T:
            with self.get_connection() as con:
                con.execute("BEGIN TRANSACTION")
                try:
                    result = work(con)
                    con.execute("COMMIT")
                    return result
                except BaseException:
                    try:
                        con.execute("ROLLBACK")
                    except duckdb.Error:
                        pass  # a failed COMMIT has already ended the transaction
                    raise
        return lake.retry_commit(attempt) if self.kind == "ducklake" else attempt()

    def _publish_snapshot(self, db: Path) -> None:
        snap = self.snapshot
        snap.parent.mkdir(parents=True, exist_ok=True)
        tmp = snap.with_name(f".{snap.name}.{os.getpid()}.tmp")
        shutil.copyfile(db, tmp)
        old = snap.with_name(f".{snap.name}.{os.getpid()}.{next(_retired)}.old")
        with suppress(OSError):  # a second name keeps its blocks: freeing 0.5 GB inside the rename took 0.2 s
            os.link(snap, old)  # (none where there is no snapshot yet, or the file system has no hard links)
        os.replace(tmp, snap)
        if old.exists():  # freed off the writer's time (only the writer, under the lock, makes these)
            threading.Thread(target=old.unlink).start()

    def write_table(
        self,
        name: str,
        frame: pd.DataFrame,
        mode: Literal["replace", "append", "upsert"] = "replace",
        key: Sequence[str] = (),
        context: dg.AssetExecutionContext | None = None,
    ) -> int:
        """Replace, append to, or upsert (by `key` columns) table `schema.table`; returns its row count.
        Given the asset's `context`, core.materializations records its run, layer and run config."""
        return self.write_tables({name: frame}, mode, key, context)[name]

    def write_tables(
        self,
        frames: dict[str, pd.DataFrame],
        mode: Literal["replace", "append", "upsert"] = "replace",
        key: Sequence[str] = (),
        context: dg.AssetExecutionContext | None = None,
    ) -> dict[str, int]:
        """`write_table` for several tables in one transaction: all of them or none, and one new
        snapshot (each publish copies the whole file) for a step that writes many."""
        for name, frame in frames.items():
            if mode == "upsert" and not key:
                raise ValueError(f"write_table({name!r}, mode='upsert') needs key columns")
            missing = [k for k in key if k not in frame.columns]
            if missing:
                raise KeyError(f"write_table({name!r}): key column(s) {missing} not in the frame")
        def work(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
            counts = {}
            for name, frame in frames.items():
                schema, _ = check_table_name(name)
                con.register("incoming", typed(frame))
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
                counts[name] = self._log_write(con, name, context)
            return counts
        return self.commit(work)

    def write_partition(self, name: str, frame: pd.DataFrame, column: str, partition: str,
                        context: dg.AssetExecutionContext | None = None) -> int:
        """Replace one partition's rows of `name` (those whose `column` is `partition`) with
        `frame`, in one transaction: readers see the old partition or the new one, never half,
        and the other partitions' rows are untouched. Returns the table's row count."""
        schema, _ = check_table_name(name)
        frame = typed(frame.assign(**{column: partition}))

        def work(con: duckdb.DuckDBPyConnection) -> int:
            exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                                 "AND schema_name = ? AND table_name = ?", name.split(".")).fetchone()[0]
            if not exists and frame.empty:  # an empty partition first: its frame may lack the columns
                return 0
            con.register("incoming", frame)
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM incoming LIMIT 0")
            columns = {r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()}
            if column not in columns:  # written unpartitioned before: those rows belong to no partition
                con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming LIMIT 0")
            con.execute(f"DELETE FROM {name} WHERE {column} = ?", [partition])
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM incoming")
            con.unregister("incoming")
            return self._log_write(con, name, context)
        return self.commit(work)

    def create_table_as(self, name: str, select_sql: str, context: dg.AssetExecutionContext | None = None) -> int:
        """Materialize a SELECT as table `name`, atomically; returns the row count."""
        schema, _ = check_table_name(name)

        def work(con: duckdb.DuckDBPyConnection) -> int:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(f"CREATE OR REPLACE TABLE {name} AS\n{select_sql}")
            return self._log_write(con, name, context)
        return self.commit(work)

    def _log_write(self, con: duckdb.DuckDBPyConnection, name: str, context: dg.AssetExecutionContext | None) -> int:
        """One row per table in core.materializations: when and by which run it was written, its
        layer, the step's effective run config (seeds, sources, sizes) for reports to read, and on
        DuckLake the snapshot its transaction read (time travel: ATTACH ... SNAPSHOT_VERSION)."""
        rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        con.execute("CREATE SCHEMA IF NOT EXISTS core;" + MATERIALIZATIONS)
        for column in MATERIALIZATIONS_ADDED:  # warehouses written before these columns existed
            con.execute(f"ALTER TABLE core.materializations ADD COLUMN IF NOT EXISTS {column}")
        run_id = layer = config = None
        if context is not None:
            run_id = context.run_id
            layer = context.assets_def.tags_by_key.get(dg.AssetKey(name.split(".")), {}).get("layer")
            config = json.dumps(context.op_config, sort_keys=True, default=str) if context.op_config else None
        read = lake.current_snapshot(con) if self.kind == "ducklake" else None
        # DELETE + INSERT, not a primary key: DuckLake tables take no key constraints
        con.execute("DELETE FROM core.materializations WHERE table_name = ?", [name])
        con.execute(
            "INSERT INTO core.materializations (table_name, row_count, materialized_at, run_id, layer, config, "
            "snapshot_read) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [name, rows, datetime.now(timezone.utc), run_id, layer, config, read])
        return rows

    # --- reading ----------------------------------------------------------------------------
    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to the latest snapshot (never blocks a writer)."""
        with self.reader_for() as con:
            yield con

    @contextmanager
    def reader_for(self, *directories: Path) -> Iterator[duckdb.DuckDBPyConnection]:
        """`reader`, with files allowed in `directories` (and nowhere else)."""
        con = open_reader(self.settings, [str(d) for d in directories])
        try:
            yield con
        finally:
            con.close()

    def query(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        with self.reader() as con:
            return con.execute(sql, params or []).df()

    def arrow(self, sql: str, params: Sequence | None = None) -> pa.Table:
        """`query` as an Arrow table: millions of rows with list columns arrive in a second, where
        pandas would build a Python object per value."""
        with self.reader() as con:
            return con.execute(sql, params or []).to_arrow_table()

    def copy_to(self, sql: str, target: Path, options: str = "FORMAT JSON") -> None:
        """Write a query's rows straight to a file with DuckDB's COPY (no DataFrame on the way: a
        report may be millions of rows); the reader may write in the target's folder only."""
        target = Path(target).resolve()
        with self.reader_for(target.parent) as con:
            quoted = str(target).replace("'", "''")
            con.execute(f"COPY ({sql}) TO '{quoted}' ({options})")

    def table_exists(self, name: str) -> bool:
        if not (self.snapshot.exists() if self.kind == "duckdb" else lake.has_catalog(self.settings)):
            return False
        schema, table = check_table_name(name)
        with self.reader() as con:
            return bool(con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                [schema, table],
            ).fetchone()[0])


