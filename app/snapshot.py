"""What every page shares: a fresh read-only, sandboxed connection to the warehouse snapshot."""

from contextlib import contextmanager

import streamlit as st

from resources.settings import load_settings
from resources.warehouse import connect_readonly


@contextmanager
def warehouse():
    """Opened per page run, so a snapshot published since the last run is the one read."""
    settings = load_settings()
    snapshot = settings.path("snapshot")
    if not snapshot.exists():
        st.info(f"No warehouse yet at {snapshot}. Run `make demo` or materialize assets in Dagster.")
        st.stop()
    con = connect_readonly(snapshot, settings.reader_directories())
    try:
        yield con
    finally:
        con.close()


def tables(con):
    """Every table with its row count and when Dagster last materialized it."""
    return con.execute("""
        SELECT t.schema_name AS schema, t.table_name AS "table",
               coalesce(m.row_count, t.estimated_size) AS rows, m.materialized_at
        FROM duckdb_tables() AS t
        LEFT JOIN core.materializations AS m
          ON m.table_name = t.schema_name || '.' || t.table_name
        ORDER BY schema, "table"
    """).df()


def require(con, schema: str, table: str, hint: str) -> None:
    """Stop the page with a hint when the analysis has not been materialized yet."""
    found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                        [schema, table]).fetchone()[0]
    if not found:
        st.info(f"No results yet: {hint}")
        st.stop()
