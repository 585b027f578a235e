"""Browse any warehouse table: its layer, its columns and its first rows."""

import streamlit as st

from resources.contracts import load_contracts
from resources.reader import table_overview
from snapshot import warehouse

st.set_page_config(page_title="vibescope · tables", layout="wide")
st.title("Tables")

with warehouse() as con:
    overview = table_overview(con)
    by_schema = overview.groupby("schema").agg(tables=("table", "count"), rows=("rows", "sum"))
    for col, (schema_name, counts) in zip(st.columns(max(len(by_schema), 1)), by_schema.iterrows()):
        col.metric(f"schema {schema_name}", f"{int(counts.tables)} tables")
        col.caption(f"{int(counts.rows):,} rows")
    with st.expander("Every table by layer: input (from sources) → model (tables from tables) → result"):
        st.dataframe(overview.sort_values(["layer", "schema", "table"]), hide_index=True, use_container_width=True)
    names = (overview["schema"] + "." + overview["table"]).tolist()
    name = st.selectbox("table", names, index=0)
    limit = st.slider("rows", 10, 1000, 100, step=10)
    schema, table = name.split(".")
    row = overview[overview["table"].eq(table) & overview["schema"].eq(schema)].iloc[0]
    st.caption(f"{int(row['rows']):,} rows · layer {row['layer'] or 'unknown'} · run {row['run_id'] or 'unknown'}")
    contract = load_contracts().get(name)
    columns = con.execute(f'DESCRIBE "{schema}"."{table}"').df()[["column_name", "column_type"]]
    if contract is not None:  # the table's declaration: sql/<schema>/schema.yml
        st.markdown(f"**{contract.description}**  \ngrain: {', '.join(contract.grain) or 'one row'} · "
                    f"written by `{contract.writer()}`")
        described = {c.name: (c.description, ", ".join(t.name for t in c.tests)) for c in contract.columns}
        columns["description"] = columns.column_name.map(lambda c: described.get(c, ("", ""))[0])
        columns["tests"] = columns.column_name.map(lambda c: described.get(c, ("", ""))[1])
    st.dataframe(columns, hide_index=True, use_container_width=True)
    st.dataframe(con.execute(f'SELECT * FROM "{schema}"."{table}" LIMIT {int(limit)}').df(),
                 hide_index=True, use_container_width=True)
