"""Dataset difference: the classifier prompt per iteration and how well it tells A from B."""

import plotly.express as px
import streamlit as st

from analysis.evidence import render
from resources import examples
from snapshot import require, warehouse

st.set_page_config(page_title="vibescope · dataset difference", layout="wide")
st.title("Dataset difference")

with warehouse() as con:
    require(con, "diff", "iteration_metrics", "materialize the `diff` group in Dagster, or run `vibescope diff A B`.")
    metrics = con.execute("SELECT * FROM diff.iteration_metrics").df()
    iterations = con.execute("SELECT iteration, epoch, description, rows_shown FROM diff.iterations ORDER BY iteration").df()
    reliability = con.execute("SELECT * FROM diff.reliability").df()
    sources = con.execute("SELECT side, any_value(source) AS source, count(*) AS rows FROM diff.rows GROUP BY side ORDER BY side").df()
    terms = (con.execute("SELECT * FROM diff.distinguishing_terms ORDER BY side, rank").df()
             if con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'diff' "
                            "AND table_name = 'distinguishing_terms'").fetchone()[0] else None)
    texts = con.execute("SELECT row_id, text FROM diff.rows").df().set_index("row_id").text

st.caption(" · ".join(f"**{r.side}**: {r.source} ({r.rows} rows)" for r in sources.itertuples()))
unseen = metrics[metrics.split == "unseen"].set_index("stage")
st.markdown("**Unseen rows: does the LLM's description beat words and length?**")
cols = st.columns(3)
for col, (stage, title) in zip(cols, (("final", "LLM classifier (final prompt)"),
                                      ("lexical_baseline", "words: TF-IDF logistic regression"),
                                      ("length_baseline", "length only"))):
    if stage in unseen.index and unseen.loc[stage].n:
        h = unseen.loc[stage]
        col.metric(f"{title}: accuracy", f"{h.accuracy:.1%}",
                   help=f"95% CI {h.accuracy_ci_low:.1%} to {h.accuracy_ci_high:.1%}; binomial p vs 50% "
                        f"{h.binomial_p_value:.3g}")
        col.caption(f"95% CI {h.accuracy_ci_low:.1%} to {h.accuracy_ci_high:.1%} · AUROC {h.auroc:.3f} "
                    f"({h.auroc_ci_low:.3f} to {h.auroc_ci_high:.3f}) · n {h.n}")

loop = metrics[metrics.stage == "loop"]
left, right = st.columns(2)
with left:
    st.subheader("Accuracy per iteration")
    fig = px.line(loop, x="iteration", y="accuracy", color="split", markers=True,
                  error_y=loop.accuracy_ci_high - loop.accuracy, error_y_minus=loop.accuracy - loop.accuracy_ci_low)
    fig.add_hline(y=0.5, line_dash="dot")
    st.plotly_chart(fig, use_container_width=True)
    st.plotly_chart(px.line(loop, x="iteration", y="mean_confidence", color="split", markers=True,
                            title="Mean confidence"), use_container_width=True)
with right:
    st.subheader("Reliability of P(A)")
    fig = px.line(reliability, x="mean_predicted", y="share_a", color="stage", line_dash="split", markers=True)
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line=dict(dash="dot", color="grey"))
    st.plotly_chart(fig, use_container_width=True)

st.subheader("Words that separate A from B")
if terms is None:
    st.info("Materialize `diff/distinguishing_terms` to see them.")
else:
    st.caption("Log-odds ratio with an informative Dirichlet prior (Monroe et al. 2008): z > 0 leans to A. "
               "Counted over all rows of both sides; no LLM involved.")
    a_side, b_side = st.columns(2)
    for col, side in ((a_side, "A"), (b_side, "B")):
        mine = terms[terms.side == side]
        col.markdown(f"**{side}**")
        col.dataframe(mine[["rank", "term", "z", "count_a", "count_b"]], hide_index=True, use_container_width=True)
        for t in mine.head(3).itertuples():
            with col.expander(f"“{t.term}” in {side}"):
                for row_id in t.example_row_ids:
                    st.text(texts[row_id][:600])

st.subheader("Descriptions")
for r in iterations.itertuples():
    with st.expander(f"iteration {r.iteration} (epoch {r.epoch}, {r.rows_shown} rows shown)"):
        st.write(r.description)
st.subheader("All metrics")
st.dataframe(metrics, hide_index=True, use_container_width=True)

st.subheader("Rows, one by one")
st.caption("Each row under the final prompt: its side, the side predicted (A where P(A) ≥ 0.5), right or wrong. "
           "Pick one to see P(A) at every iteration and baseline, with the description each iteration used.")
a, b = st.columns(2)
wrong_only = a.checkbox("wrong only", key="wrong_only")
unseen_only = b.checkbox("unseen only (rows the describer never saw)", key="unseen_only")
with warehouse() as con:
    total = examples.diff_rows(con, wrong_only, unseen_only, size=0)[0]
    pages = max(1, -(-total // 50))
    number = st.number_input(f"{total:,} rows match; page (of {pages})", 1, pages, 1, key="diff_page") - 1
    rows = examples.diff_rows(con, wrong_only, unseen_only, number, 50)[1]
    st.dataframe(rows, hide_index=True, use_container_width=True, height=260)
    picked = st.selectbox("row", rows.row_id, key="diff_row") if len(rows) else None
    if picked:
        row, history = examples.diff_row(con, picked)
if picked:
    st.markdown(f"**Row {row.row_id}** · side **{row.side}** · {row.split} · {row.source}")
    st.html(f'<div class="vs-response">{render(row.text)}</div>')
    st.dataframe(history, hide_index=True, use_container_width=True)
