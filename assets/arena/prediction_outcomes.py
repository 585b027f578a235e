"""`arena.prediction_outcomes`: do the behaviours predict the outcome? One row per held-out item
of each task and feature set (analysis/preference.py): the winner of a decided battle from the
models alone, with style, with style and behaviours (as the describer mentioned them, and as the
rubric measured them: `+measured`); the model that wrote a response from the majority class, its
style, its style and behaviours (mentioned, measured: +1 where its response shows a behaviour more
than the opponent's, -1 less). Both on the battles the describer read (the ones with behaviours),
and the same held-out battles for every fit of a task (`test_fraction`,
`seed`), so two feature sets compare pair by pair in arena.preference_prediction.
"""

import dagster as dg
import numpy as np
import pandas as pd
from scipy import sparse

from analysis.preference import held_out, identity_outcomes, presence_matrix, winner_outcomes
from assets.arena.config import PredictionConfig
from assets.arena.model_ratings import BATTLES, BEHAVIOURS, MEASURED, covariates_of
from assets.core.tables import Written, one, table_step
from assets.lineage import MODEL, Query, reads
from resources.warehouse import Warehouse

SHOWN = Query("""SELECT battle_id || ' ' || model AS response_id, item AS cluster
                 FROM arena.behaviour_presence WHERE family = 'fine' AND shows AND item <> '-1'""")
RESPONSE_STYLE = Query("""SELECT battle_id || ' ' || model AS response_id, battle_id, model, feature, value
                          FROM arena.response_style ORDER BY response_id, feature""")
WINNER_FEATURES = {"models": "none", "models+style": "style", "models+style+behaviours": "style_behaviours",
                   "models+style+measured": "style_rubric"}


def winner_rows(battles: pd.DataFrame, mentioned: pd.DataFrame, measured: pd.DataFrame,
                config: PredictionConfig) -> pd.DataFrame:
    decided = battles[battles.winner != "tie"].reset_index(drop=True)
    if len(decided) < 10:
        return pd.DataFrame()
    models = sorted(set(decided.model_a) | set(decided.model_b))
    index = {m: i for i, m in enumerate(models)}
    a, b = decided.model_a.map(index).to_numpy(), decided.model_b.map(index).to_numpy()
    won_a = (decided.winner == "model_a").to_numpy(float)
    test = held_out(decided.battle_id, config.test_fraction, config.seed)
    frames = []
    for features, control in WINNER_FEATURES.items():
        x, _ = covariates_of(control, decided, measured if control == "style_rubric" else mentioned)
        frames.append(winner_outcomes(a, b, won_a, len(models), x, test, decided.battle_id.to_numpy())
                      .assign(task="winner", features=features))
    return pd.concat(frames, ignore_index=True)


def measured_matrix(measured: pd.DataFrame, battles: pd.DataFrame, keys: pd.Index):
    """Per response, +1 per behaviour its response shows more than the opponent's, -1 less."""
    sides = measured.merge(battles[["battle_id", "model_a", "model_b"]], on="battle_id")
    rows = pd.concat([sides.assign(response_id=sides.battle_id + " " + sides.model_a, value=sides.difference),
                      sides.assign(response_id=sides.battle_id + " " + sides.model_b, value=-sides.difference)])
    items = sorted(measured.cluster.unique())
    r, c = keys.get_indexer(rows.response_id), pd.Index(items).get_indexer(rows.cluster)
    keep = (r >= 0) & (c >= 0)
    return sparse.csr_matrix((rows.value.to_numpy(float)[keep], (r[keep], c[keep])), shape=(len(keys), len(items)))


def identity_rows(style: pd.DataFrame, shown: pd.DataFrame, measured_x, config: PredictionConfig) -> pd.DataFrame:
    """Responses of the battles the describer read (those with a behaviour presence row)."""
    wide = style.pivot_table(index=["response_id", "battle_id", "model"], columns="feature", values="value").reset_index()
    wide = wide[wide.battle_id.isin(set(shown.response_id.str.rsplit(" ", n=1).str[0]))].reset_index(drop=True)
    if len(wide) < 10 or wide.model.nunique() < 2:
        return pd.DataFrame()
    keys = pd.Index(wide.response_id)
    style_x = sparse.csr_matrix(np.log1p(wide[[c for c in wide.columns if c not in ("response_id", "battle_id", "model")]]
                                         .to_numpy(float)))
    clusters = sorted(shown.cluster.unique())
    behaviours_x = presence_matrix(shown, clusters, keys, "response_id", "cluster")
    test = held_out(wide.battle_id + " " + wide.model, config.test_fraction, config.seed)
    labels, ids = wide.model.to_numpy(), wide.response_id.to_numpy()
    sets = [("majority", None), ("style", style_x), ("style+behaviours", sparse.hstack([style_x, behaviours_x], format="csr"))]
    if measured_x is not None:
        sets.append(("style+measured", sparse.hstack([style_x, measured_x(keys)], format="csr")))
    frames = [identity_outcomes(x, labels, test, ids).assign(task="identity", features=name) for name, x in sets]
    return pd.concat(frames, ignore_index=True)


@table_step(deps=reads(BATTLES, BEHAVIOURS, MEASURED, SHOWN, RESPONSE_STYLE), layer=MODEL, kinds={"duckdb", "scikitlearn"})
def prediction_outcomes(context: dg.AssetExecutionContext, config: PredictionConfig,
                        warehouse: Warehouse) -> Written:
    """Held-out predictions of the winner and of the writing model, per feature set."""
    battles, mentioned, measured = warehouse.query(BATTLES), warehouse.query(BEHAVIOURS), warehouse.query(MEASURED)
    # the battles the describer read (they have behaviours), for every feature set: the same items
    described = battles[battles.broad_category.notna()].reset_index(drop=True)
    measured_x = (lambda keys: measured_matrix(measured, described, keys)) if len(measured) else None  # noqa: E731
    rows = pd.concat([winner_rows(described, mentioned, measured, config),
                      identity_rows(warehouse.query(RESPONSE_STYLE), warehouse.query(SHOWN), measured_x, config)],
                     ignore_index=True)
    columns = ["task", "features", "item_id", "truth", "correct", "log_loss"]
    frame = rows[columns] if len(rows) else pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        columns, ("str", "str", "str", "str", "bool", "float"))})
    return one(frame, {"held_out_battles": int(
                       rows[rows.task == "winner"].item_id.nunique()) if len(rows) else 0})
