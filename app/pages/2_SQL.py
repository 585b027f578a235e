"""Ad-hoc SQL on the warehouse snapshot, read-only (p-value functions included)."""

import streamlit as st

from resources.warehouse import UDFS, ReadOnlyError, readonly_query
from snapshot import warehouse

st.set_page_config(page_title="vibescope · SQL", layout="wide")
st.title("SQL")
st.caption("Read-only: SELECT, WITH, PIVOT, DESCRIBE, SHOW, SUMMARIZE. Functions: "
           + ", ".join(f"`{name}`" for name in UDFS))

query = st.text_area("query", "SELECT * FROM core.llm_call_stats", height=160)
if st.button("Run", type="primary"):
    with warehouse() as con:
        try:
            result = readonly_query(con, query)
        except ReadOnlyError as exc:
            st.error(f"Refused: {exc}")
        except Exception as exc:  # DuckDB's own message is what the person needs to fix the query
            st.error(f"{type(exc).__name__}: {exc}")
        else:
            st.success(f"{len(result):,} rows")
            st.dataframe(result, hide_index=True, use_container_width=True)
