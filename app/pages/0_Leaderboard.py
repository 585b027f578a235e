"""Which model is better: the ratings rounded to what their intervals carry, the interval plot, the
controls side by side (plain, style, and behaviours as mentioned and as measured by the rubric), a category selector, and FastChat's pairwise matrices. Every rating
and every matrix cell opens onto the battles behind it in the explorer."""

import streamlit as st

from analysis.leaderboard import CONTROLS, board, interval_figure, matrix, matrix_figure
from resources.explore import BattleFilter
from snapshot import exists, require, warehouse

st.set_page_config(page_title="vibescope · leaderboard", layout="wide")
st.title("Leaderboard")

with warehouse() as con:
    require(con, "arena", "model_ratings", "`vibescope arena BATTLES` (or the `arena` group in Dagster, or `make demo`).")
    ratings = con.execute("SELECT * FROM arena.model_ratings").df()
    pairwise = (con.execute("SELECT * FROM arena.pairwise_battles").df()
                if exists(con, "arena", "pairwise_battles") else None)
    n_battles = con.execute("SELECT count(*) FROM arena.rating_battles").fetchone()[0]

categories = list(dict.fromkeys(["all", *sorted(ratings.category.unique())]))
category = st.selectbox("prompt category", categories, index=0,
                        help="`all`: every battle; a broad category: the described battles of that category")
table = board(ratings, category)
controls = [name for c, name in CONTROLS.items() if (ratings.control == c).any()]
st.caption(f"Bradley-Terry ratings on the Elo scale from {n_battles:,} battles, 95% bootstrap intervals, rounded "
           "to what the interval carries (a 150-point interval shows tens). Rank: the ranks the interval allows. "
           f"Controls: {', '.join(controls)} (style: length and markdown held fixed; mention: the behaviour "
           "clusters the describer mentioned too; measured behaviour: the rubric's verdicts on every scored "
           "battle, asked in both answer orders, instead of mentions).")
if table.empty:
    st.info(f"No model is rated in category {category!r} (arena__model_ratings.min_battles).")
    st.stop()
filters = {m: BattleFilter(model=m, broad=None if category == "all" else category) for m in table.model}
table["battles behind it"] = [filters[m].link() for m in table.model]
st.dataframe(table, hide_index=True, use_container_width=True, column_config={
    "battles behind it": st.column_config.LinkColumn("battles behind it", display_text="open in explorer")})
st.plotly_chart(interval_figure(ratings, category), use_container_width=True)

chosen = st.selectbox("open a model's battles", table.model, key="model_link")
st.link_button(f"open {chosen}'s battles in the explorer", filters[chosen].link())

if pairwise is not None and not pairwise.empty:
    order = table.model.tolist()
    st.subheader("Pairwise: who beats whom (FastChat's views, ties left out)")
    wide = len(order) > 10  # a large matrix needs the page's width to be read
    left, right = (st.container(), st.container()) if wide else st.columns(2)
    left.caption("Share of decided battles the row model won against the column model")
    left.plotly_chart(matrix_figure(pairwise, "win_fraction", order), use_container_width=True)
    right.caption("Decided battles between the two")
    right.plotly_chart(matrix_figure(pairwise, "decided", order), use_container_width=True)
    a, b = st.columns(2)
    model = a.selectbox("model", order, key="pair_model")
    opponents = [m for m in matrix(pairwise, "battles", order).loc[model].dropna().index]
    opponent = b.selectbox("opponent", opponents, key="pair_opponent") if opponents else None
    if opponent:
        cell = pairwise[(pairwise.model == model) & (pairwise.opponent == opponent)].iloc[0]
        st.link_button(f"open the {int(cell.battles)} battles of {model} vs {opponent} "
                       f"({int(cell.wins)} won, {int(cell.losses)} lost, {int(cell.ties)} tied)",
                       BattleFilter(model=model, opponent=opponent).link())
