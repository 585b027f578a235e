"""Causal judge evaluation: policy values with CIs, weight diagnostics, calibration, pairwise tests."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from analysis.evidence import render
from resources import examples
from snapshot import exists, require, warehouse

st.set_page_config(page_title="vibescope · CJE", layout="wide")
st.title("Causal judge evaluation")

with warehouse() as con:
    require(con, "cje", "decision", "materialize the `cje` group in Dagster (or `make demo`).")
    decision = con.execute("SELECT * FROM cje.decision").df().iloc[0]
    cards = con.execute("SELECT * FROM cje.boundary_cards").df()
    audits = con.execute("SELECT * FROM cje.transport_audits").df()
    estimates = con.execute("SELECT * FROM cje.policy_estimates").df()
    weights = con.execute("SELECT * FROM cje.weight_diagnostics").df()
    histogram = con.execute("SELECT * FROM cje.weight_histogram").df()
    curve = con.execute("SELECT * FROM cje.calibration_curve").df()
    calibration = con.execute("SELECT * FROM cje.calibration_summary").df()
    pairwise = con.execute("SELECT * FROM cje.pairwise_tests").df()
    rails = con.execute("SELECT * FROM cje.guard_rails").df()

best = f"Best policy by {decision.estimator}: {decision.best_policy}" if decision.best_policy else "No best policy"
(st.success if decision.decision_ready else st.warning)(f"{best}. {decision.note}")
with st.expander("boundary cards and transport audits (what the decision rests on)"):
    st.dataframe(cards, hide_index=True, use_container_width=True)
    st.dataframe(audits, hide_index=True, use_container_width=True)

estimators = list(dict.fromkeys(estimates.estimator))
headline, rule = decision.estimator, decision.estimator_rule
estimator = st.radio("estimator", estimators, index=estimators.index(headline) if headline in estimators else 0,
                     horizontal=True, help=f"the headline: {rule}")

st.subheader("Policy values (95% CI)")
shown = estimates[estimates.estimator == estimator]
fig = go.Figure()
fig.add_trace(go.Scatter(
    x=shown.v_hat, y=shown.policy, mode="markers", name="estimate",
    error_x=dict(type="data", symmetric=False, array=shown.ci_high - shown.v_hat,
                 arrayminus=shown.v_hat - shown.ci_low)))
fig.add_trace(go.Scatter(x=shown.oracle_truth, y=shown.policy, mode="markers", name="oracle truth",
                         marker=dict(symbol="x", size=10)))
fig.update_layout(height=300, xaxis_title="value on the oracle's scale", margin=dict(t=10))
st.plotly_chart(fig, use_container_width=True)
st.dataframe(shown.drop(columns=["estimator"]), hide_index=True, use_container_width=True)
with st.expander("every estimator"):
    st.dataframe(estimates, hide_index=True, use_container_width=True)

st.subheader("Importance weights")
st.dataframe(weights, hide_index=True, use_container_width=True)
if histogram.empty:
    st.caption("no positive importance weight to draw")
else:
    spread = px.bar(histogram, x="log10_bin", y="n", facet_row="policy", log_y=True,
                    height=140 * histogram.policy.nunique() + 60,
                    labels={"log10_bin": "log10 normalized weight (mean 1 at 0)", "n": "rows"})
    st.plotly_chart(spread, use_container_width=True)

left, right = st.columns(2)
with left:
    st.subheader("Judge → oracle calibration")
    row = calibration.iloc[0]
    st.caption(f"{int(row.n_labels)} labels, Spearman {row.spearman:.3f}, "
               f"out-of-fold R² {row.r2_out_of_fold:.3f}")
    fit, bins = curve[curve.kind == "fit"], curve[curve.kind == "bin"]
    cal = px.scatter(bins, x="judge_score", y="oracle", size="n", labels={"oracle": "oracle label"})
    cal.add_trace(go.Scatter(x=fit.judge_score, y=fit.oracle, mode="lines", name="isotonic fit"))
    st.plotly_chart(cal, use_container_width=True)
with right:
    st.subheader("Pairwise tests (Holm-adjusted p)")
    pw = pairwise[pairwise.estimator == estimator]
    policies = list(dict.fromkeys([*estimates.policy]))
    matrix = pd.DataFrame(index=policies, columns=policies, dtype=float)
    for r in pw.itertuples():
        matrix.loc[r.policy_a, r.policy_b] = matrix.loc[r.policy_b, r.policy_a] = r.p_holm
    st.plotly_chart(px.imshow(matrix, text_auto=".3f", zmin=0, zmax=1, color_continuous_scale="viridis_r"),
                    use_container_width=True)
    st.dataframe(pw, hide_index=True, use_container_width=True)

st.subheader("Guard rails")
if rails.empty:
    st.success("No guard rail is broken.")
else:
    st.warning(f"{len(rails)} guard rail violation(s)")
    st.dataframe(rails, hide_index=True, use_container_width=True)

st.subheader("Prompts behind the estimates")
st.caption("Per prompt: the base's logged response with its judge score, calibrated reward and oracle label where "
           "one exists, and the chosen policy's importance weight. Largest weight first: these rows carry the "
           "policy's IPS estimate. Pick one to read every policy's responses to it.")
with warehouse() as con:
    if not exists(con, "cje", "importance_weights"):
        st.info("No logged responses with log-probabilities: no importance weights to sort by.")
        st.stop()
    targets = [r[0] for r in con.execute("SELECT policy FROM cje.policies ORDER BY is_base, policy").fetchall()]
    policy = st.selectbox("policy (its weights; the base's are all 1)", targets, key="cje_policy")
    total = examples.cje_prompts(con, policy, size=0)[0]
    pages = max(1, -(-total // 50))
    number = st.number_input(f"{total:,} prompts; page (of {pages})", 1, pages, 1, key="cje_page") - 1
    prompts = examples.cje_prompts(con, policy, number, 50)[1]
    st.dataframe(prompts, hide_index=True, use_container_width=True, height=260)
    picked = st.selectbox("prompt", prompts.prompt_id, key="cje_prompt") if len(prompts) else None
    if picked:
        text, responses, prompt_weights = examples.cje_prompt(con, picked)
if picked:
    st.markdown(f"**Prompt {picked}**")
    st.html(f'<div class="vs-prompt">{render(text)}</div>')
    st.dataframe(prompt_weights, hide_index=True)
    for r in responses.itertuples():
        oracle = "" if r.oracle_label != r.oracle_label else f" · oracle {r.oracle_label:.3g}"
        calibrated = "" if r.calibrated_score != r.calibrated_score else f" · calibrated {r.calibrated_score:.3f}"
        with st.expander(f"{r.policy} · {r.source} #{r.draw_idx} · judge {r.judge_score:.3g}{calibrated}{oracle}",
                         expanded=r.source == "logged"):
            st.html(f'<div class="vs-response">{render(r.response)}</div>')
