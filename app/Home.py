"""vibescope: the findings of the latest run of each analysis."""

import streamlit as st

from findings import FINDINGS
from snapshot import warehouse

st.set_page_config(page_title="vibescope", layout="wide")
st.title("vibescope: findings")
st.caption("How do two LLMs differ, and which one is better? Each analysis' headline from its latest run, "
           "the input it came from, and what its control or guard rails say. Outputs of the embedded "
           "SmolLM2-135M prove the machinery; they are not findings. Every table: the Tables page.")

with warehouse() as con:
    shown = [f for f in (find(con) for find in FINDINGS) if f is not None]

if not shown:
    st.info("No analysis has run yet: `make demo`, or `vibescope arena | cje | diff | acts` on your files.")
for f in shown:
    st.subheader(f.title)
    st.caption(f"input: {f.source}")
    st.markdown(f"**control:** {f.verdict}")
    if f.figure is not None:
        left, right = st.columns(2)
        left.dataframe(f.table, hide_index=True, use_container_width=True)
        right.plotly_chart(f.figure, use_container_width=True)
    else:
        st.dataframe(f.table, hide_index=True, use_container_width=True)
    if f.page:
        st.page_link(f.page, label="everything behind it, example by example", icon="🔎")
