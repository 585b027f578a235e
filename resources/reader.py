"""Readers' connections to the warehouse snapshot: sandboxed (the snapshot's tables and nothing
else), with a row cap and a statement timeout for what a person types (app SQL page, CLI)."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import duckdb
import pandas as pd
import pyarrow as pa

from resources.settings import Settings
from resources.sql_functions import register_udfs


def connect_readonly(snapshot: str | os.PathLike, allowed_directories: Sequence[str] = ()) -> duckdb.DuckDBPyConnection:
    """A read-only, sandboxed connection to the published snapshot file, with the p-value UDFs.

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
    con = _instance()
    quoted = str(path.resolve()).replace("'", "''")
    try:
        con.execute(f"ATTACH '{quoted}' AS snapshot (READ_ONLY)")
    except duckdb.IOException as exc:
        raise newer_file_error(path, exc) from None
    con.execute("USE snapshot")
    register_udfs(con)
    return _sandbox(con, allowed_directories)


def newer_file_error(path: Path, exc: duckdb.IOException) -> Exception:
    """A warehouse file written by a DuckDB newer than the pinned one (2.0 before the DuckLake pin
    to 1.5.5) cannot be opened: say which file and what to do, not just the storage version."""
    if "version number" not in str(exc):
        return exc
    return RuntimeError(f"{path} was written by a newer DuckDB than this project's {duckdb.__version__} "
                        "(DuckDB 2.0, before vibescope pinned 1.5.5 for DuckLake): DuckDB cannot open it. "
                        "Delete the warehouse file and its snapshot ([paths] warehouse, snapshot) and materialize "
                        "again: the LLM cache keeps every answer, so no model is called twice.")


def open_reader(settings: Settings, allowed_directories: Sequence[str] = (),
                snapshot_version: int | None = None) -> duckdb.DuckDBPyConnection:
    """The sandboxed reader of the warehouse [warehouse] kind names: the snapshot file, or the
    DuckLake read-only (each query one committed snapshot; `snapshot_version` pins an older one)."""
    if settings.warehouse.kind == "duckdb":
        return connect_readonly(settings.path("snapshot"), allowed_directories)
    from resources import lake

    if not lake.has_catalog(settings):
        raise FileNotFoundError(f"no DuckLake catalog at {settings.warehouse.catalog}: materialize an asset "
                                "first (make demo)")
    directories = [lake.data_path(settings), *allowed_directories]  # the lake's own files stay readable
    return lake.connect(settings, read_only=True, snapshot_version=snapshot_version, key=tuple(directories),
                        prepare=lambda con: _sandbox(con, directories))


def where_readers_read(settings: Settings) -> str:
    """What a reader opens, for messages: the snapshot file or the lake's catalog."""
    if settings.warehouse.kind == "duckdb":
        return str(settings.path("snapshot"))
    return f"DuckLake {settings.warehouse.catalog}"


def _instance() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                              "autoload_known_extensions": False})


def _sandbox(con: duckdb.DuckDBPyConnection, allowed_directories: Sequence[str]) -> duckdb.DuckDBPyConnection:
    if allowed_directories:
        con.execute("SET allowed_directories = ?", [[str(Path(d).resolve()) + os.sep for d in allowed_directories]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


class ReadOnlyError(ValueError):
    """A statement refused: one that would change something or reach outside the warehouse, ran
    past the timeout, or that DuckDB rejects (its message on one line, hint included)."""


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
    except duckdb.Error as exc:  # an unknown table or column, a type error: DuckDB's words, hint included
        raise ReadOnlyError(" ".join(str(exc).split())) from None
    finally:
        timer.cancel()
    frame = pa.Table.from_batches(kept, schema=batches.schema).to_pandas() if kept else \
        batches.schema.empty_table().to_pandas()
    return ReaderResult(frame=frame, total_rows=total)


def table_overview(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every table with its layer (input / model / result), row count, and when and by which run it
    was last materialized (core.materializations; older warehouses lack the layer and run)."""
    found = con.execute("SELECT schema_name AS schema, table_name AS \"table\", estimated_size "
                        "FROM duckdb_tables() WHERE database_name = current_database() ORDER BY ALL").df()
    written = pd.DataFrame(columns=["table_name"])
    if ((found.schema == "core") & (found.table == "materializations")).any():
        written = con.execute("SELECT * FROM core.materializations").df()
    for column in ("row_count", "materialized_at", "run_id", "layer"):
        if column not in written:
            written[column] = None
    overview = found.assign(table_name=found.schema + "." + found.table).merge(written, how="left", on="table_name")
    overview["rows"] = overview.row_count.fillna(overview.estimated_size).astype("int64")
    return overview[["schema", "table", "layer", "rows", "materialized_at", "run_id"]]
