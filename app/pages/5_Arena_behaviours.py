"""Arena behaviours: the property map, the cluster tree, per-model shares and the win-rate link."""

import plotly.graph_objects as go
import streamlit as st

from analysis.arena_figures import cluster_tree, model_bars, property_map
from snapshot import require, warehouse

st.set_page_config(page_title="vibescope · arena behaviours", layout="wide")
st.title("Arena behaviours")

with warehouse() as con:
    require(con, "arena", "model_cluster_metrics", "materialize the `arena` group in Dagster (or `make demo`).")
    properties = con.execute("SELECT * FROM arena.clustered_properties").df()
    labels = con.execute("SELECT * FROM arena.cluster_labels").df()
    metrics = con.execute("SELECT * FROM arena.model_cluster_metrics").df()
    battles = con.execute("SELECT battle_id, model_a, model_b, winner, prompt, response_a, response_b FROM arena.battles").df()
    categories = con.execute("SELECT broad_category, narrower_category, count(*) AS battles "
                             "FROM arena.prompt_categories GROUP BY ALL ORDER BY battles DESC").df()

level = st.radio("cluster level", ["fine", "coarse"], horizontal=True)
st.plotly_chart(property_map(properties, level), use_container_width=True)
left, right = st.columns(2)
left.plotly_chart(cluster_tree(labels), use_container_width=True)
right.plotly_chart(model_bars(metrics, level), use_container_width=True)

st.subheader("Which behaviours go with winning")
shown = metrics[(metrics.level == level) & metrics.win_rate_with.notna()]
link = go.Figure()
for label, group in shown.groupby("model"):
    link.add_trace(go.Scatter(
        x=group.win_rate_with - group.win_rate_without, y=group.cluster_label, mode="markers", name=label,
        text=[f"p_holm {p:.3g}" if p == p else "" for p in group.p_holm]))
link.update_layout(xaxis_title="win rate with the behaviour − without (ties excluded)", height=400)
st.plotly_chart(link, use_container_width=True)
st.dataframe(shown, hide_index=True, use_container_width=True)

st.subheader("A cluster")
options = labels[labels.level == level].sort_values("size", ascending=False)
chosen = st.selectbox("cluster", options.cluster_id, format_func=lambda k: f"{options.set_index('cluster_id').label[k]} "
                      f"({options.set_index('cluster_id')['size'][k]})")
row = options.set_index("cluster_id").loc[chosen]
st.markdown(f"**{row.label}**: {row.description}")
members = properties[properties[f"{level}_cluster_id"] == chosen]
st.dataframe(members[["model", "property_description", "evidence", "impact", "behavior_type"]].head(30),
             hide_index=True, use_container_width=True)
if len(members):
    example = battles.set_index("battle_id").loc[members.battle_id.iloc[0]]
    st.caption(f"Example battle: {example.model_a} vs {example.model_b}, winner: {example.winner}")
    st.text(example.prompt[:1500])
    a, b = st.columns(2)
    a.markdown(f"**A: {example.model_a}**")
    a.text(example.response_a[:3000])
    b.markdown(f"**B: {example.model_b}**")
    b.text(example.response_b[:3000])

st.subheader("Prompt categories")
st.dataframe(categories, hide_index=True, use_container_width=True)
