"""`arena.model_ratings` and `arena.rating_coefficients`: which model is better, by how much, and
how sure: Bradley-Terry ratings (analysis/ratings.py) with bootstrap intervals and rank ranges,
under three controls, overall and per broad prompt category.

- `none`: the plain fit, as FastChat's `compute_mle_elo`;
- `style`: with Chatbot Arena's style covariates (length in tokens, headers, lists, bold: the
  normalised differences of arena.rating_battles, standardised), so a model's rating is what
  remains once how long and how formatted its answers are is accounted for;
- `style_behaviours`: those plus one covariate per fine behaviour cluster (arena.rating_behaviours:
  +1 where only A's response shows it, -1 where only B's does), on the battles the describer read.

Models with fewer than `min_battles` battles among the rated ones, or no win or no loss there,
are listed (`rated` false, no rating), not rated: their maximum-likelihood rating does not exist
or rests on too little (analysis/ratings.py: `rated`). The covariates' p-values and Holm
adjustment are SQL (arena.rating_covariates).
"""

import dagster as dg
import numpy as np
import pandas as pd
from scipy import sparse

from analysis.ratings import bootstrap, rank_range, rated
from assets.arena.config import RatingsConfig
from assets.lineage import MODEL, RESULT, Query, reads
from resources.warehouse import Warehouse

BATTLES = Query("SELECT * FROM arena.rating_battles ORDER BY battle_id")
BEHAVIOURS = Query("SELECT battle_id, cluster, difference FROM arena.rating_behaviours ORDER BY battle_id, cluster")
STYLE = ("length", "headers", "lists", "bold")
CONTROLS = ("none", "style", "style_behaviours")
RATING_COLUMNS = ["control", "category", "model", "rated", "rating", "ci_low", "ci_high", "rank", "rank_high",
                  "battles", "wins", "losses", "ties"]
COEFFICIENT_COLUMNS = ["control", "covariate", "coefficient", "se", "ci_low", "ci_high", "battles"]


def covariates_of(control: str, battles: pd.DataFrame, behaviours: pd.DataFrame):
    """(matrix, names) of a control's covariates for `battles` (None, [] for none)."""
    if control == "none":
        return None, []
    style = sparse.csr_matrix(battles[list(STYLE)].to_numpy(float))
    if control == "style":
        return style, list(STYLE)
    clusters = sorted(behaviours.cluster.unique(), key=lambda c: (len(c), c))
    at = pd.Index(battles.battle_id).get_indexer(behaviours.battle_id)
    col = pd.Index(clusters).get_indexer(behaviours.cluster)
    keep = at >= 0
    shown = sparse.csr_matrix((behaviours.difference.to_numpy(float)[keep], (at[keep], col[keep])),
                              shape=(len(battles), len(clusters)))
    return sparse.hstack([style, shown], format="csr"), [*STYLE, *(f"behaviour {c}" for c in clusters)]


def ratings_of(battles: pd.DataFrame, covariates, names: list[str], config: RatingsConfig):
    """The model rows of one fit (rated and listed) and its covariates' bootstrap summaries."""
    models = sorted(set(battles.model_a) | set(battles.model_b))
    index = {m: i for i, m in enumerate(models)}
    a, b = battles.model_a.map(index).to_numpy(), battles.model_b.map(index).to_numpy()
    outcome = battles.winner.map({"model_a": 1.0, "model_b": 0.0}).fillna(0.5).to_numpy()
    counts = pd.DataFrame({
        "model": models,
        "battles": np.bincount(a, minlength=len(models)) + np.bincount(b, minlength=len(models)),
        "wins": np.bincount(a, outcome == 1, len(models)) + np.bincount(b, outcome == 0, len(models)),
        "losses": np.bincount(a, outcome == 0, len(models)) + np.bincount(b, outcome == 1, len(models)),
    })
    counts["ties"] = counts.battles - counts.wins - counts.losses
    keep = rated(a, b, outcome, len(models), config.min_battles)
    kept = [m for m, k in zip(models, keep) if k]
    rows = counts.assign(rated=keep, rating=np.nan, ci_low=np.nan, ci_high=np.nan, rank=pd.NA, rank_high=pd.NA)
    anchor = config.anchor if config.anchor in kept else None
    among = keep[a] & keep[b]
    if len(kept) < 2 or not among.any():
        return rows, pd.DataFrame(columns=COEFFICIENT_COLUMNS[1:])
    sub = {m: i for i, m in enumerate(kept)}
    x = None if covariates is None else covariates[np.flatnonzero(among)]
    full, boot_r, boot_c = bootstrap(
        battles.model_a[among].map(sub).to_numpy(), battles.model_b[among].map(sub).to_numpy(), outcome[among],
        kept, x, names, anchor, config.bootstrap_rounds, config.seed)
    low, high = boot_r.quantile(0.025), boot_r.quantile(0.975)
    ranks = rank_range(low, high)
    at = rows.model.isin(kept)
    rows.loc[at, "rating"] = full.ratings[rows.model[at]].to_numpy()
    rows.loc[at, "ci_low"], rows.loc[at, "ci_high"] = low[rows.model[at]].to_numpy(), high[rows.model[at]].to_numpy()
    rows.loc[at, "rank"], rows.loc[at, "rank_high"] = ranks["rank"][rows.model[at]].to_numpy(), ranks["rank_high"][rows.model[at]].to_numpy()
    coefficients = pd.DataFrame({"covariate": names, "coefficient": full.coefficients.to_numpy(),
                                 "se": boot_c.std(ddof=1).to_numpy() if len(names) else [],
                                 "ci_low": boot_c.quantile(0.025).to_numpy() if len(names) else [],
                                 "ci_high": boot_c.quantile(0.975).to_numpy() if len(names) else [],
                                 "battles": int(among.sum())})
    return rows, coefficients


@dg.multi_asset(
    specs=[dg.AssetSpec(["arena", "model_ratings"], deps=reads(BATTLES, BEHAVIOURS), group_name="arena",
                        kinds={"duckdb", "python"}, tags=RESULT),
           dg.AssetSpec(["arena", "rating_coefficients"], deps=reads(BATTLES, BEHAVIOURS), group_name="arena",
                        kinds={"duckdb", "python"}, tags=MODEL)],
    name="arena__model_ratings",
    description=__doc__,
)
def model_ratings(context: dg.AssetExecutionContext, config: RatingsConfig, warehouse: Warehouse):
    battles, behaviours = warehouse.query(BATTLES), warehouse.query(BEHAVIOURS)
    models = set(battles.model_a) | set(battles.model_b)
    if config.anchor and config.anchor not in models:  # a typo would quietly anchor at the mean
        raise ValueError(f"arena__model_ratings.anchor {config.anchor!r} is no model of the battles; they have: "
                         + ", ".join(sorted(models)[:20]) + (" ..." if len(models) > 20 else ""))
    described = battles[battles.broad_category.notna()]  # arena.battles' (the describer's) battles
    ratings, coefficients = [], []
    for control in CONTROLS:
        pool = described if control == "style_behaviours" else battles
        categories = ["all", *sorted(pool.broad_category.dropna().unique())]
        for category in categories:
            subset = (pool if category == "all" else pool[pool.broad_category == category]).reset_index(drop=True)
            if subset.empty:
                continue
            x, names = covariates_of(control, subset, behaviours)
            rows, coef = ratings_of(subset, x, names, config)
            ratings.append(rows.assign(control=control, category=category))
            if category == "all" and len(coef):
                coefficients.append(coef.assign(control=control))
    table = pd.concat(ratings, ignore_index=True)[RATING_COLUMNS].astype({"rank": "Int64", "rank_high": "Int64"})
    coefs = pd.concat([pd.DataFrame(columns=COEFFICIENT_COLUMNS), *coefficients], ignore_index=True)[COEFFICIENT_COLUMNS]
    tables = {"arena.model_ratings": table, "arena.rating_coefficients": coefs.astype(
        {"coefficient": float, "se": float, "ci_low": float, "ci_high": float, "battles": "Int64"})}
    counts = warehouse.write_tables(tables, context=context)
    overall = table[(table.control == "none") & (table.category == "all") & table.rated]
    top = overall.nlargest(3, "rating")
    yield dg.MaterializeResult(asset_key=["arena", "model_ratings"], metadata={
        "dagster/row_count": counts["arena.model_ratings"], "top": ", ".join(top.model)})
    yield dg.MaterializeResult(asset_key=["arena", "rating_coefficients"],
                               metadata={"dagster/row_count": counts["arena.rating_coefficients"]})
