"""vibescope: the warehouse at a glance."""

import streamlit as st

from resources.reader import table_overview
from snapshot import warehouse

st.set_page_config(page_title="vibescope", layout="wide")
st.title("vibescope")
st.caption("How do two LLMs differ, and which one is better? Every table below is an asset "
           "materialized by Dagster; this app only reads the warehouse, read-only.")

with warehouse() as con:
    overview = table_overview(con)

by_schema = overview.groupby("schema").agg(tables=("table", "count"), rows=("rows", "sum"))
cols = st.columns(max(len(by_schema), 1))
for col, (schema, row) in zip(cols, by_schema.iterrows()):
    col.metric(f"schema {schema}", f"{int(row.tables)} tables")
    col.caption(f"{int(row.rows):,} rows")

st.subheader("Tables")
st.dataframe(overview, hide_index=True, use_container_width=True,
             column_config={"materialized_at": st.column_config.DatetimeColumn("last materialized")})
