"""Ad-hoc SQL on the warehouse snapshot, read-only (p-value functions included)."""

import streamlit as st

from resources.settings import load_settings
from resources.reader import ReadOnlyError, readonly_query
from resources.sql_functions import LIST_UDFS, UDFS
from snapshot import warehouse

st.set_page_config(page_title="vibescope · SQL", layout="wide")
st.title("SQL")
readers = load_settings().readers
st.caption("Read-only: SELECT, WITH, PIVOT, DESCRIBE, SHOW, SUMMARIZE on the warehouse's tables (no files "
           f"or URLs); at most {readers.max_rows:,} rows shown, stopped after {readers.timeout_s:g} s. "
           "Functions: " + ", ".join(f"`{name}`" for name in [*UDFS, *LIST_UDFS]))

query = st.text_area("query", "SELECT * FROM core.llm_call_stats", height=160)
if st.button("Run", type="primary"):
    with warehouse() as con:
        try:
            result = readonly_query(con, query, readers.max_rows, readers.timeout_s)
        except ReadOnlyError as exc:
            st.error(f"Refused: {exc}")
        except Exception as exc:  # DuckDB's own message is what the person needs to fix the query
            st.error(f"{type(exc).__name__}: {exc}")
        else:
            shown = f" (the first {len(result.frame):,} shown)" if result.truncated else ""
            st.success(f"{result.total_rows:,} rows{shown}")
            st.dataframe(result.frame, hide_index=True, use_container_width=True)
