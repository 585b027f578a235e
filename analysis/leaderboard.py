"""The leaderboard as people read it: ratings rounded to what their intervals carry, a 95%-interval
plot per control, and FastChat's pairwise win-fraction and battle-count matrices. Shared by the
app's Leaderboard page and the static report; the numbers are `arena.model_ratings` and
`arena.pairwise_battles`, unchanged."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

CONTROLS = {"none": "plain", "style": "style-controlled", "style_behaviours": "mention-controlled",
            "style_rubric": "measured-behaviour-controlled"}


def rounding_step(ci_low: float, ci_high: float) -> float:
    """The largest power of ten not above a tenth of the interval's width: a 150-point interval
    shows tens, a 20-point one units. An interval of no width (or none) keeps units."""
    width = ci_high - ci_low if ci_low == ci_low and ci_high == ci_high else 0.0
    if not width > 0:
        return 1.0
    return 10.0 ** math.floor(math.log10(width / 10))


def rounded(value: float, ci_low: float, ci_high: float) -> str:
    """`value [low, high]`, each rounded to the interval's step (rounding_step)."""
    if value != value:
        return ""
    step = rounding_step(ci_low, ci_high)
    decimals = max(0, -int(round(math.log10(step))))

    def fmt(x: float) -> str:
        return f"{round(x / step) * step:.{decimals}f}" if x == x else "?"

    return f"{fmt(value)} [{fmt(ci_low)}, {fmt(ci_high)}]" if ci_low == ci_low else fmt(value)


def board(ratings: pd.DataFrame, category: str = "all") -> pd.DataFrame:
    """One row per model, a column pair per control (rating [95%] and rank range), ordered by the
    plain rating: `arena.model_ratings` as a table a person reads."""
    shown = ratings[(ratings.category == category) & ratings.rated]
    out = None
    for control, name in CONTROLS.items():
        one = shown[shown.control == control]
        if one.empty:
            continue
        cols = pd.DataFrame({
            "model": one.model,
            f"{name} rating [95%]": [rounded(r, lo, hi) for r, lo, hi in zip(one.rating, one.ci_low, one.ci_high)],
            f"{name} rank": [f"{int(a)}" if a == b else f"{int(a)}–{int(b)}" for a, b in zip(one["rank"], one.rank_high)],
            f"_{control}": one.rating})
        out = cols if out is None else out.merge(cols, on="model", how="outer")
    if out is None:
        return pd.DataFrame(columns=["model"])
    battles = shown.groupby("model").battles.max()
    out["battles"] = out.model.map(battles)
    order = [c for c in (f"_{control}" for control in CONTROLS) if c in out]
    return out.sort_values(order, ascending=False, na_position="last").drop(columns=order).reset_index(drop=True)


def interval_figure(ratings: pd.DataFrame, category: str = "all", height: int | None = None) -> go.Figure:
    """Each model's rating and 95% interval, a marker per control, models by plain rating."""
    shown = ratings[(ratings.category == category) & ratings.rated]
    order = (shown[shown.control == "none"].sort_values("rating").model.tolist()
             or shown.sort_values("rating").model.drop_duplicates().tolist())
    fig = go.Figure()
    for i, (control, name) in enumerate(CONTROLS.items()):
        one = shown[shown.control == control].set_index("model").reindex(order).dropna(subset=["rating"])
        if one.empty:
            continue
        fig.add_trace(go.Scatter(
            x=one.rating, y=one.index, mode="markers", name=name, offsetgroup=str(i),
            error_x=dict(type="data", symmetric=False, array=one.ci_high - one.rating,
                         arrayminus=one.rating - one.ci_low),
            hovertemplate="%{y}: %{x:.0f}<extra>" + name + "</extra>"))
    fig.update_layout(scattermode="group", height=height or 120 + 28 * max(len(order), 1),
                      xaxis_title="rating (Elo scale) with its 95% bootstrap interval",
                      margin=dict(t=30, l=10), legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig


def matrix(pairwise: pd.DataFrame, value: str, order: list[str] | None = None) -> pd.DataFrame:
    """`arena.pairwise_battles` as a model × opponent matrix of `value` (win_fraction or decided)."""
    table = pairwise.pivot(index="model", columns="opponent", values=value)
    order = [m for m in (order or []) if m in table.index] or list(table.index)
    return table.reindex(index=order, columns=order)


def matrix_figure(pairwise: pd.DataFrame, value: str, order: list[str] | None = None) -> go.Figure:
    """FastChat's heatmaps: the share of decided battles the row model won, or how many were decided."""
    table = matrix(pairwise, value, order)
    share = value == "win_fraction"
    fig = go.Figure(go.Heatmap(
        z=table.to_numpy(), x=table.columns, y=table.index, colorscale="RdBu" if share else "Blues",
        zmin=0 if share else None, zmax=1 if share else None,
        text=table.map(lambda v: "" if v != v else (f"{v:.2f}" if share else f"{int(v)}")).to_numpy(),
        texttemplate="%{text}", hovertemplate="%{y} vs %{x}: %{z}<extra></extra>"))
    fig.update_layout(height=160 + 26 * len(table), margin=dict(t=10), yaxis=dict(autorange="reversed"),
                      xaxis_title="opponent", yaxis_title="model")
    return fig
