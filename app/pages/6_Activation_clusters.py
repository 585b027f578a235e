"""Activation clusters: method x k heatmaps of the graded scores per layer, and each cluster's
title, description and example sentences."""

import json

import plotly.express as px
import streamlit as st

from analysis.evidence import coloured_sentences
from analysis.llm_call_plan import from_configs
from resources import examples
from snapshot import require, warehouse

st.set_page_config(page_title="vibescope · activation clusters", layout="wide")
st.title("Activation clusters")

with warehouse() as con:
    require(con, "acts", "clustering_scores", "materialize the `acts` group in Dagster.")
    scores = con.execute("SELECT * FROM acts.clustering_scores").df()
    means = con.execute("SELECT * FROM acts.activation_means ORDER BY layer").df()
    categories = con.execute("SELECT * FROM acts.category_scores ORDER BY layer, method, k, repetition, cluster_id").df()
    titles = con.execute("SELECT layer, method, k, repetition, cluster_id, shown_sentence_ids, name, named_by, keywords "
                         "FROM acts.cluster_titles").df()
    text = con.execute("SELECT sentence_id, text FROM acts.sentences").df().set_index("sentence_id").text
    configs = con.execute("SELECT table_name, config FROM core.materializations WHERE table_name IN "
                          "('acts.cluster_assignments', 'acts.cluster_titles', 'acts.grades', 'acts.activations')").df()

layers = means.layer.tolist()
st.caption(f"{means.model.iloc[0]}, layer{'s' if len(layers) > 1 else ''} {', '.join(map(str, layers))}, "
           f"{means.n_sentences.iloc[0]} sentences")
ran = {r.table_name: json.loads(r.config) for r in configs.itertuples() if r.config}
if len(ran) == 4:  # the run config each step ran with, as core.materializations recorded it
    calls = from_configs(ran["acts.cluster_assignments"], ran["acts.cluster_titles"], ran["acts.grades"],
                         ran["acts.activations"])
    st.info(f"This run's configuration makes up to **{calls['total']}** LLM calls "
            f"({calls['per_layer']['total']} per layer): namer {calls['namer']}, "
            f"membership {calls['membership']}, shuffled-title control {calls['control']}, "
            f"completeness {calls['completeness']}, "
            f"similarity {calls['similarity']}.")

control = scores[scores.kind == "graded"].drop_duplicates(["layer", "method", "k"])
blind = control[~control.grader_discriminates.fillna(False).astype(bool)]
if len(control) and len(blind) == len(control):
    st.warning(f"**The grader does not discriminate.** Asked about each cluster's own sentences, it accepted "
               f"{control.matched_acceptance.mean():.0%} under the cluster's title and "
               f"{control.shuffled_acceptance.mean():.0%} under another cluster's (no method x k differs at "
               f"p < 0.05): the graded scores below measure the grader, not the names.")
elif len(blind):
    st.warning(f"The grader does not discriminate for {len(blind)} of {len(control)} method x k (shuffled-title "
               "control): their graded scores say nothing about the names (column `grader_discriminates`).")
elif len(control):
    st.success("Grader control passed: every method x k's grader accepts its own sentences under the right title "
               "more often than under a shuffled one (p < 0.05).")

metric_names = sorted(scores.metric.unique(), key=lambda m: (m != "final_score", m))
metric = st.selectbox("Metric", metric_names, index=0)
for layer in layers:  # a heatmap per layer, on one colour scale, so a sweep reads across
    shown = scores[(scores.metric == metric) & (scores.layer == layer)]
    grid = shown.pivot_table(index="method", columns="k", values="mean")
    grid.columns = grid.columns.astype(str)  # k as categories, not a numeric axis
    fig = px.imshow(grid, text_auto=".2f", aspect="auto", color_continuous_scale="RdBu",
                    range_color=[scores[scores.metric == metric]["mean"].min(), scores[scores.metric == metric]["mean"].max()],
                    labels={"color": metric}, title=f"layer {layer}: {metric} (mean over repetitions)")
    st.plotly_chart(fig, use_container_width=True)
with st.expander("Every score, with its spread over repetitions"):
    st.dataframe(scores.sort_values(["metric", "layer", "method", "k"]), hide_index=True, use_container_width=True)

st.subheader("Clusters")
first, left, middle, right = st.columns(4)
layer = first.selectbox("Layer", layers)
categories, titles = categories[categories.layer == layer], titles[titles.layer == layer]
method = left.selectbox("Method", sorted(categories.method.unique()))
k = middle.selectbox("k", sorted(categories[categories.method == method].k.unique()))
repetition = right.selectbox("Repetition", sorted(categories[(categories.method == method)
                                                             & (categories.k == k)].repetition.unique()))
chosen = categories[(categories.method == method) & (categories.k == k) & (categories.repetition == repetition)]
named = titles[(titles.method == method) & (titles.k == k) & (titles.repetition == repetition)].set_index("cluster_id")
for c in chosen.itertuples():
    own = named.loc[c.cluster_id]
    with st.expander(f"{c.cluster_id}. {own['name']} ({c.size} sentences; F1 {c.f1:.2f})"):
        st.markdown(f"**Keywords** (c-TF-IDF against this clustering's other clusters): {', '.join(own.keywords)}")
        if own.named_by == "keywords":
            st.caption(f"The namer's title, “{c.title}”, names nothing (empty, no word, or another cluster's): "
                       "the keywords stand in for it. The scores grade the namer's title.")
        st.caption(f"Grader control: own sentences accepted {c.matched_acceptance:.0%} under this title, "
                   f"{c.shuffled_acceptance:.0%} under another cluster's"
                   + ("" if c.grader_discriminates else " (not different at p < 0.05: the F1 says little)"))
        st.write(c.description)
        st.markdown("\n".join(f"- {text[s]}" for s in own.shown_sentence_ids[:5]))

st.subheader("A trace, sentence by sentence")
with warehouse() as con:
    runs = examples.acts_runs(con)
    run = st.selectbox("layer · method · k (by graded score)", range(len(runs)), key="acts_run", format_func=lambda i: (
        f"layer {runs.layer[i]} · {runs.method[i]} · k {runs.k[i]}"
        + (f" · final score {runs.final_score[i]:.2f}" if runs.final_score[i] == runs.final_score[i] else "")))
    r = runs.iloc[run]
    traces = [t[0] for t in con.execute("SELECT trace_id FROM acts.traces ORDER BY trace_id").fetchall()]
    trace = st.selectbox("trace", traces, key="acts_trace")
    sentences = examples.acts_trace(con, trace, int(r.layer), r.method, int(r.k))
    clusters = examples.acts_clusters(con, int(r.layer), r.method, int(r.k))
    picked = st.selectbox("cluster", sorted(clusters.cluster_id.unique()), key="acts_cluster")
    shown = examples.acts_examples(con, int(r.layer), r.method, int(r.k), int(picked))
st.caption("Each sentence on its cluster's colour; hover for the cluster's title.")
st.html(coloured_sentences(zip(sentences.text, sentences.cluster_id, sentences.title)))
one = clusters[clusters.cluster_id == picked]
st.markdown(f"**{picked}. {one.title.iloc[0]}**: {one.description.iloc[0] or ''}")
st.markdown("\n".join(f"- {s}" for s in shown))
st.caption("The grader's verdicts on this cluster (membership: its answer 1/0 against the truth; completeness and "
           "similarity: its 0-10 answer)")
st.dataframe(one.drop(columns=["title", "description"]), hide_index=True, use_container_width=True)
