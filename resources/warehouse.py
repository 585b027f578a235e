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

import json
import os
import re
import shutil
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Literal, Sequence

import dagster as dg
import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource
from filelock import FileLock

from resources.reader import connect_readonly
from resources.settings import Settings, load_settings
from resources.sql_functions import register_udfs

TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
WRITE_LOCK_TIMEOUT_S = 900
MATERIALIZATIONS = ("CREATE TABLE IF NOT EXISTS core.materializations (table_name VARCHAR PRIMARY KEY, "
                    "row_count BIGINT, materialized_at TIMESTAMPTZ, run_id VARCHAR, layer VARCHAR, config VARCHAR)")
MATERIALIZATIONS_ADDED = ("run_id VARCHAR", "layer VARCHAR", "config VARCHAR")


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

    # --- writing ----------------------------------------------------------------------------
    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection under the inter-process write lock; on a clean exit the file is
        checkpointed and a new snapshot published. Keep the work inside it short."""
        db = self.db_path
        db.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(db) + ".lock", timeout=WRITE_LOCK_TIMEOUT_S):
            opened = DuckDBResource(database=str(db), connection_config=self.connection_config).get_connection()
            con = opened.__enter__()
            try:
                register_udfs(con)
                yield con
                con.execute("CHECKPOINT")
            finally:
                con.close()  # dagster-duckdb closes only on a clean exit
            self._publish_snapshot(db)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One short write transaction (all of it or none of it), then a new snapshot."""
        with self.get_connection() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

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
        counts = {}
        with self.transaction() as con:
            for name, frame in frames.items():
                schema, _ = check_table_name(name)
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
                counts[name] = self._log_write(con, name, context)
        return counts

    def create_table_as(self, name: str, select_sql: str, context: dg.AssetExecutionContext | None = None) -> int:
        """Materialize a SELECT as table `name`, atomically; returns the row count."""
        schema, _ = check_table_name(name)
        with self.transaction() as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(f"CREATE OR REPLACE TABLE {name} AS\n{select_sql}")
            return self._log_write(con, name, context)

    @staticmethod
    def _log_write(con: duckdb.DuckDBPyConnection, name: str, context: dg.AssetExecutionContext | None) -> int:
        """One row per table in core.materializations: when and by which run it was written, its
        layer, and the step's effective run config (seeds, sources, sizes) for reports to read."""
        rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        con.execute("CREATE SCHEMA IF NOT EXISTS core;" + MATERIALIZATIONS)
        for column in MATERIALIZATIONS_ADDED:  # warehouses written before these columns existed
            con.execute(f"ALTER TABLE core.materializations ADD COLUMN IF NOT EXISTS {column}")
        run_id = layer = config = None
        if context is not None:
            run_id = context.run_id
            layer = context.assets_def.tags_by_key.get(dg.AssetKey(name.split(".")), {}).get("layer")
            config = json.dumps(context.op_config, sort_keys=True, default=str) if context.op_config else None
        con.execute(
            "INSERT OR REPLACE INTO core.materializations (table_name, row_count, materialized_at, run_id, layer, "
            "config) VALUES (?, ?, ?, ?, ?, ?)", [name, rows, datetime.now(timezone.utc), run_id, layer, config])
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
        con = connect_readonly(self.snapshot, allowed_directories=[str(d) for d in directories])
        try:
            yield con
        finally:
            con.close()

    def query(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        with self.reader() as con:
            return con.execute(sql, params or []).df()

    def copy_to(self, sql: str, target: Path, options: str = "FORMAT JSON") -> None:
        """Write a query's rows straight to a file with DuckDB's COPY (no DataFrame on the way: a
        report may be millions of rows); the reader may write in the target's folder only."""
        target = Path(target).resolve()
        with self.reader_for(target.parent) as con:
            quoted = str(target).replace("'", "''")
            con.execute(f"COPY ({sql}) TO '{quoted}' ({options})")

    def table_exists(self, name: str) -> bool:
        if not self.snapshot.exists():
            return False
        schema, table = check_table_name(name)
        with self.reader() as con:
            return bool(con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                [schema, table],
            ).fetchone()[0])


