"""Dataset difference: the classifier prompt per iteration and how well it tells A from B."""

import plotly.express as px
import streamlit as st

from snapshot import require, warehouse

st.set_page_config(page_title="vibescope · dataset difference", layout="wide")
st.title("Dataset difference")

with warehouse() as con:
    require(con, "diff", "iteration_metrics", "materialize the `diff` group in Dagster, or run `vibescope diff A B`.")
    metrics = con.execute("SELECT * FROM diff.iteration_metrics").df()
    iterations = con.execute("SELECT iteration, epoch, description, rows_shown FROM diff.iterations ORDER BY iteration").df()
    reliability = con.execute("SELECT * FROM diff.reliability").df()
    sources = con.execute("SELECT side, any_value(source) AS source, count(*) AS rows FROM diff.rows GROUP BY side ORDER BY side").df()

st.caption(" · ".join(f"**{r.side}**: {r.source} ({r.rows} rows)" for r in sources.itertuples()))
headline = metrics[(metrics.stage == "final") & (metrics.split == "unseen")]
baseline = metrics[(metrics.stage == "length_baseline") & (metrics.split == "unseen")]
cols = st.columns(4)
if len(headline):
    h = headline.iloc[0]
    cols[0].metric("unseen accuracy (final prompt)", f"{h.accuracy:.1%}",
                   help=f"95% CI {h.accuracy_ci_low:.1%} to {h.accuracy_ci_high:.1%}")
    cols[1].metric("unseen AUROC", f"{h.auroc:.3f}")
    cols[2].metric("binomial p vs 50%", f"{h.binomial_p_value:.3g}")
if len(baseline):
    cols[3].metric("length-only baseline accuracy", f"{baseline.iloc[0].accuracy:.1%}")

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

st.subheader("Descriptions")
for r in iterations.itertuples():
    with st.expander(f"iteration {r.iteration} (epoch {r.epoch}, {r.rows_shown} rows shown)"):
        st.write(r.description)
st.subheader("All metrics")
st.dataframe(metrics, hide_index=True, use_container_width=True)
