"""`arena.model_ratings` and `arena.rating_coefficients`: which model is better, by how much, and
how sure: Bradley-Terry ratings (analysis/ratings.py) with bootstrap intervals and rank ranges,
under three controls, overall and per broad prompt category.

- `none`: the plain fit, as FastChat's `compute_mle_elo`;
- `style`: with Chatbot Arena's style covariates (length in tokens, headers, lists, bold: the
  normalised differences of arena.rating_battles, standardised), so a model's rating is what
  remains once how long and how formatted its answers are is accounted for;
- `style_behaviours`: those plus one covariate per fine behaviour cluster (arena.rating_behaviours:
  +1 where only A's response shows it, -1 where only B's does), on the battles the describer read:
  what the describer happened to mention;
- `style_rubric`: the style covariates plus one per scored behaviour, its measured verdict
  (arena.behaviour_verdicts: +1 A's response shows it more, -1 B's, 0 equally, inconsistent or
  missing), on every battle the rubric scored. A behaviour never measured as differing adds no
  covariate, so a scorer that only ever follows the position moves no rating.

Models with fewer than `min_battles` battles among the rated ones, or no win or no loss there,
are listed (`rated` false, no rating), not rated: their maximum-likelihood rating does not exist
or rests on too little (analysis/ratings.py: `rated`). The covariates' p-values and Holm
adjustment are SQL (arena.rating_covariates).
"""

import dagster as dg
import pandas as pd
from scipy import sparse

from analysis.ratings import FIT_COEFFICIENT_COLUMNS, ratings_of
from assets.arena.config import RatingsConfig
from assets.core.tables import Written, table_step
from assets.lineage import MODEL, RESULT, Query, reads
from resources.warehouse import Warehouse

BATTLES = Query("SELECT * FROM arena.rating_battles ORDER BY battle_id")
BEHAVIOURS = Query("SELECT battle_id, cluster, difference FROM arena.rating_behaviours ORDER BY battle_id, cluster")
MEASURED = Query("SELECT battle_id, behaviour AS cluster, verdict AS difference FROM arena.behaviour_verdicts "
                 "WHERE verdict <> 0 ORDER BY battle_id, behaviour")
SCORED = Query("SELECT DISTINCT battle_id FROM arena.behaviour_scores")
STYLE = ("length", "headers", "lists", "bold")
CONTROLS = ("none", "style", "style_behaviours", "style_rubric")
PREFIX = {"style_behaviours": "behaviour ", "style_rubric": "measured "}
RATING_COLUMNS = ["control", "category", "model", "rated", "rating", "ci_low", "ci_high", "rank", "rank_high",
                  "battles", "wins", "losses", "ties"]
COEFFICIENT_COLUMNS = ["control", *FIT_COEFFICIENT_COLUMNS]


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
    return sparse.hstack([style, shown], format="csr"), [*STYLE, *(f"{PREFIX[control]}{c}" for c in clusters)]


@table_step(deps=reads(BATTLES, BEHAVIOURS, MEASURED, SCORED), layer=MODEL, layer_of={"model_ratings": RESULT})
def model_ratings(context: dg.AssetExecutionContext, config: RatingsConfig, warehouse: Warehouse) -> Written:
    """Bradley-Terry ratings per control and category, and the covariates' coefficients."""
    battles, mentioned, measured = warehouse.query(BATTLES), warehouse.query(BEHAVIOURS), warehouse.query(MEASURED)
    models = set(battles.model_a) | set(battles.model_b)
    if config.anchor and config.anchor not in models:  # a typo would quietly anchor at the mean
        raise ValueError(f"arena__model_ratings.anchor {config.anchor!r} is no model of the battles; they have: "
                         + ", ".join(sorted(models)[:20]) + (" ..." if len(models) > 20 else ""))
    described = battles[battles.broad_category.notna()]  # arena.battles' (the describer's) battles
    scored = battles[battles.battle_id.isin(warehouse.query(SCORED).battle_id)]
    pools = {"style_behaviours": (described, mentioned), "style_rubric": (scored, measured)}
    ratings, coefficients = [], []
    for control in CONTROLS:
        pool, behaviours = pools.get(control, (battles, mentioned))
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
    coefs = coefs.astype({"coefficient": float, "se": float, "ci_low": float, "ci_high": float, "battles": "Int64"})
    overall = table[(table.control == "none") & (table.category == "all") & table.rated]
    top = overall.nlargest(3, "rating")
    return Written({"model_ratings": table, "rating_coefficients": coefs},
                   {"model_ratings": {"top": ", ".join(top.model)}})
