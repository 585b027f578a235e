"""Browse any warehouse table: its columns and its first rows."""

import streamlit as st

from snapshot import tables, warehouse

st.set_page_config(page_title="vibescope · tables", layout="wide")
st.title("Tables")

with warehouse() as con:
    overview = tables(con)
    names = (overview["schema"] + "." + overview["table"]).tolist()
    name = st.selectbox("table", names, index=0)
    limit = st.slider("rows", 10, 1000, 100, step=10)
    schema, table = name.split(".")
    st.caption(f"{int(overview.loc[overview['table'].eq(table) & overview['schema'].eq(schema), 'rows'].iloc[0]):,} rows")
    st.dataframe(con.execute(f'DESCRIBE "{schema}"."{table}"').df()[["column_name", "column_type"]],
                 hide_index=True)
    st.dataframe(con.execute(f'SELECT * FROM "{schema}"."{table}" LIMIT {int(limit)}').df(),
                 hide_index=True, use_container_width=True)
