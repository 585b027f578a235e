"""What every page shares: a fresh read-only, sandboxed connection to the warehouse snapshot."""

from contextlib import contextmanager

import streamlit as st

from resources.settings import load_settings
from resources.reader import open_reader, where_readers_read


@contextmanager
def warehouse():
    """Opened per page run, so a snapshot published since the last run is the one read."""
    settings = load_settings()
    try:
        con = open_reader(settings, settings.reader_directories())
    except FileNotFoundError:
        st.info(f"No warehouse yet at {where_readers_read(settings)}. Run `make demo` or materialize assets "
                "in Dagster.")
        st.stop()
    try:
        yield con
    finally:
        con.close()


def exists(con, schema: str, table: str) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                       [schema, table]).fetchone()[0] > 0


def require(con, schema: str, table: str, hint: str) -> None:
    """Stop the page with a hint when the analysis has not been materialized yet."""
    if not exists(con, schema, table):
        st.info(f"No results yet: {hint}")
        st.stop()
