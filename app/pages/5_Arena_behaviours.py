"""Arena behaviours: what the rubric measured on every battle (beside what the describer mentioned),
the property map, the cluster tree, per-model shares and the win-rate link."""

import plotly.graph_objects as go
import streamlit as st

from analysis.arena_figures import cluster_tree, model_bars, property_map
from resources.explore import BattleFilter
from snapshot import exists, require, warehouse

def leaderboard_section(con) -> None:
    """What style and the behaviours are worth in preference (the ratings themselves: the Leaderboard page)."""
    if not exists(con, "arena", "rating_covariates"):
        return
    covariates = con.execute("SELECT * FROM arena.rating_covariates ORDER BY control, p_value").df()
    st.page_link("pages/0_Leaderboard.py", label="Which model is better: the leaderboard", icon="🏆")
    style = covariates[covariates.control == "style"]
    if len(style):
        worth = "; ".join(f"{r.covariate} {r.coefficient:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}], Holm p {r.p_holm:.2g}"
                          for r in style.itertuples())
        st.caption(f"What style is worth in preference (log-odds of winning per standard deviation of the difference, "
                   f"the models held fixed): {worth}.")
    behaviours = covariates[(covariates.control == "style_behaviours") & covariates.covariate.str.startswith("behaviour")]
    if len(behaviours):
        significant = behaviours[behaviours.p_holm < 0.05]
        st.caption(f"{len(significant)} of {len(behaviours)} behaviour clusters predict the winner beyond style "
                   "(Holm p < 0.05)" + ("" if len(significant) else ": the behaviours add nothing over style here."))
    if exists(con, "arena", "preference_prediction"):
        prediction_section(con.execute("SELECT * FROM arena.preference_prediction").df())


EXPLORER = st.column_config.LinkColumn("battles", display_text="open in explorer")


def measured_section(effects, bias, identity) -> None:
    """The rubric: each scored behaviour's link to winning on its verdicts, beside the mention-based figure."""
    st.subheader("Measured behaviours: the rubric on every battle, in both answer orders")
    st.caption("Each behaviour scored on every battle by role scorer, asked with the responses in the data's order "
               "and swapped; a verdict stands where both orders agree. Coefficient: log-odds of winning when a "
               "response shows it more than its opponent's, the models held fixed (95% Wald; Holm across "
               "behaviours). Beside it the same fit on the describer's mentions, and Cohen's kappa of mention vs "
               "verdict: near 0, the mentions do not tell where the behaviour is.")
    shown = effects.assign(battles_link=[BattleFilter(rubric=b).link() for b in effects.behaviour])
    st.dataframe(shown[["label", "battles_link", "coefficient", "ci_low", "ci_high", "p_holm", "error", "differing",
                        "mentioned_coefficient", "mentioned_ci_low", "mentioned_ci_high", "kappa",
                        "position_bias_rate", "inconsistent", "battles", "source"]],
                 hide_index=True, use_container_width=True, column_config={
                     "battles_link": EXPLORER, "error": "why no fit", "differing": "battles differing",
                     **{c: st.column_config.NumberColumn(format="%.2f") for c in (
                         "coefficient", "ci_low", "ci_high", "mentioned_coefficient", "mentioned_ci_low",
                         "mentioned_ci_high", "kappa", "position_bias_rate")},
                     "p_holm": st.column_config.NumberColumn(format="%.3f")})
    biased = bias[bias.position_bias_ci_low > 0]
    if len(biased):
        st.warning(f"Position bias: for {len(biased)} of {len(bias)} behaviours the scorer named the same slot in "
                   f"both orders in some battles (up to {bias.position_bias_rate.max():.0%} of them); those "
                   "verdicts are left out of every fit.")
    labels = dict(zip(effects.behaviour, effects.label))
    chosen = st.selectbox("which model shows it more", list(labels), format_func=lambda b: labels[b], key="rubric")
    one = identity[identity.behaviour == chosen]
    one = one.assign(battles_link=[BattleFilter(model=m, rubric=chosen, shows="model").link() for m in one.model])
    st.dataframe(one.drop(columns="behaviour"), hide_index=True, use_container_width=True, column_config={
        "battles_link": EXPLORER, **{c: st.column_config.NumberColumn(format="%.2f") for c in ("mean_score", "ci_low", "ci_high")}})


def clusters_section(properties, labels, metrics) -> None:
    level = st.radio("cluster level", ["fine", "coarse"], horizontal=True)
    st.plotly_chart(property_map(properties, level), use_container_width=True)
    left, right = st.columns(2)
    left.plotly_chart(cluster_tree(labels), use_container_width=True)
    right.plotly_chart(model_bars(metrics, level), use_container_width=True)

    st.subheader("Which behaviours go with winning (as the describer mentioned them)")
    shown = metrics[(metrics.level == level) & metrics.win_rate_with.notna()]
    link = go.Figure()
    for label, group in shown.groupby("model"):
        link.add_trace(go.Scatter(
            x=group.win_rate_with - group.win_rate_without, y=group.cluster_label, mode="markers", name=label,
            text=[f"p_holm {p:.3g}" if p == p else "" for p in group.p_holm]))
    link.update_layout(xaxis_title="win rate with the behaviour − without (ties excluded)", height=400)
    st.plotly_chart(link, use_container_width=True)
    shown = shown.assign(battles_link=[BattleFilter(model=m, shows="model", **{level: int(c)}).link()
                                       for m, c in zip(shown.model, shown.cluster_id)])
    st.dataframe(shown, hide_index=True, use_container_width=True, column_config={"battles_link": EXPLORER})

    st.subheader("A cluster")
    options = labels[labels.level == level].sort_values("size", ascending=False)
    by_id = options.set_index("cluster_id")
    chosen = st.selectbox("cluster", options.cluster_id,
                          format_func=lambda k: f"{by_id['name'][k]} ({by_id['size'][k]})")
    row = by_id.loc[chosen]
    st.markdown(f"**{row['name']}**: {row.description or ''}")
    st.markdown(f"**Keywords** (c-TF-IDF against the other {level} clusters): {', '.join(row.keywords)}")
    if row.named_by == "keywords":
        st.caption(f"The namer's label, “{row.label or ''}”, names nothing (empty, no word, or another cluster's): "
                   "the keywords stand in for it.")
    members = properties[properties[f"{level}_cluster_id"] == chosen]
    st.dataframe(members[["model", "property_description", "evidence", "impact", "behavior_type"]].head(30),
                 hide_index=True, use_container_width=True)
    st.link_button(f"open the {members.battle_id.nunique()} battles of this cluster in the explorer",
                   BattleFilter(**{level: int(chosen)}).link())


def prediction_section(prediction) -> None:
    """Held-out prediction of the winner and of the writing model: do the behaviours add anything?"""
    st.subheader("Do the behaviours predict the outcome? (held-out battles no fit saw)")
    if prediction.empty:
        st.info("Too few described battles to hold some out (10 decided ones at least).")
        return
    st.dataframe(prediction, hide_index=True, use_container_width=True)
    for task, question in (("winner", "the winner"), ("identity", "which model wrote a response")):
        rows = prediction[(prediction.task == task) & prediction.features.str.endswith(("behaviours", "measured"))]
        for r in rows.itertuples():
            said = (f"Predicting {question}, the behaviours add {r.accuracy_gain:+.1%} accuracy over the previous "
                    f"features (McNemar p {r.mcnemar_p_value:.2g})")
            (st.success if r.adds_over_previous else st.warning)(
                said + ("." if r.adds_over_previous else ": they add nothing over style here."))


st.set_page_config(page_title="vibescope · arena behaviours", layout="wide")
st.title("Arena behaviours")

with warehouse() as con:
    require(con, "arena", "model_cluster_metrics", "materialize the `arena` group in Dagster (or `make demo`).")
    properties = con.execute("SELECT * FROM arena.clustered_properties").df()
    labels = con.execute("SELECT * FROM arena.cluster_labels").df()
    metrics = con.execute("SELECT * FROM arena.model_cluster_metrics").df()
    control = (con.execute("SELECT * FROM arena.describer_control").df().iloc[0]
               if exists(con, "arena", "describer_control") else None)
    style = con.execute("SELECT * FROM arena.model_style_metrics").df() if exists(con, "arena", "model_style_metrics") else None
    leaderboard_section(con)
    if exists(con, "arena", "behaviour_effects"):
        measured_section(con.execute("SELECT * FROM arena.behaviour_effects").df(),
                         con.execute("SELECT * FROM arena.behaviour_position_bias").df(),
                         con.execute("SELECT * FROM arena.behaviour_model_scores").df())
    categories = con.execute("SELECT broad_category, narrower_category, any_value(narrower_keywords) AS keywords, "
                             "any_value(narrower_named_by) AS named_by, count(*) AS battles "
                             "FROM arena.prompt_categories GROUP BY ALL ORDER BY battles DESC").df()

if control is not None and control.quotes:
    verdict = ("it quotes the response it describes more often than the other one"
               if control.describer_grounded else
               "it does not quote the response it describes more often than the other one: its properties may not "
               "be about the responses they are attributed to")
    (st.success if control.describer_grounded else st.warning)(
        f"**Describer control**: of {control.quotes} evidence quotes, {control.own_rate:.0%} occur in the "
        f"attributed response and {control.other_rate:.0%} in the other one ({control.in_neither} in neither; "
        f"McNemar p = {control.mcnemar_p_value:.3g}): {verdict}.")
elif control is not None:
    st.info("Describer control: the properties carry no evidence quotes to check (the planted source has none).")

if properties.empty:
    st.info("No behaviour clusters: the describer gave no property (or did not run: `--no-discovery`).")
else:
    clusters_section(properties, labels, metrics)

st.subheader("Style: what each model's responses look like (no LLM)")
if style is None:
    st.info("Materialize `arena/response_style` and `arena/model_style_metrics` to see it.")
else:
    st.caption(f"Over {style.groupby('model').battles.max().sum() // 2:,} battles. Length, markdown headers, "
               "list items, bold, code blocks, refusal phrases and questions back to the user, counted by rule "
               "(analysis/style.py). A response shows a length when it is longer than its opponent's, any other "
               "feature when it has one. Win rates exclude ties; p_holm across the features of one model.")
    feature = st.selectbox("feature", sorted(style.feature.unique()))
    one = style[style.feature == feature].sort_values("battles", ascending=False)
    st.plotly_chart(go.Figure(go.Bar(x=one.model, y=one.win_rate_delta, text=[
        f"p_holm {p:.3g}" if p == p else "" for p in one.p_holm])).update_layout(
        yaxis_title="win rate showing it − not showing it", height=350), use_container_width=True)
    one = one.assign(battles_link=[BattleFilter(model=m, style=feature, shows="model").link() for m in one.model])
    st.dataframe(one[["model", "battles", "mean_value", "mean_value_others", "rate", "rate_others",
                      "win_rate_with", "win_rate_without", "win_rate_delta", "p_holm", "battles_link"]],
                 hide_index=True, use_container_width=True, column_config={"battles_link": EXPLORER})

st.subheader("Prompt categories")
st.caption("`keywords`: c-TF-IDF of the category's prompts against the others; `named_by`: keywords where the "
           "namer's name named nothing.")
st.dataframe(categories, hide_index=True, use_container_width=True)
