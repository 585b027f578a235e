"""`arena.behaviour_fits`: does a behaviour go with winning, the models held fixed?

Per behaviour, a logistic regression of the human outcome (A won: 1, B won: 0; ties left out) on
the behaviour's difference between the two responses, with each model's strength as a covariate
(+1 for A's model, -1 for B's, one model the reference, no intercept: the Bradley-Terry design).
Two bases, side by side:

- `measured`: the rubric's order-consistent verdict (arena.behaviour_verdicts; inconsistent and
  missing verdicts left out, counted in arena.behaviour_position_bias), every scored battle;
- `mentioned`: for a discovered behaviour, what the describer's mentions say (arena.rating_behaviours:
  +1 where only A's response was given a property of the cluster, -1 only B's, 0 otherwise),
  every battle it read: the figure the mention counts gave before the rubric.

Wald intervals and p-values from statsmodels' Logit; Holm across behaviours is SQL
(arena.behaviour_effects). A fit that does not exist (no battle where one side shows it more, the
behaviour tied to a model, separation) is a row with its reason and no coefficient.
"""

import dagster as dg
import numpy as np
import pandas as pd

from assets.core.tables import one, table_step
from assets.lineage import MODEL, Query, reads
from resources.warehouse import Warehouse

BATTLES = Query("SELECT battle_id, model_a, model_b, winner FROM arena.battles ORDER BY battle_id")
BEHAVIOURS = Query("SELECT behaviour, source, cluster_id FROM arena.rubric_behaviours ORDER BY position")
VERDICTS = Query("SELECT battle_id, behaviour, verdict FROM arena.behaviour_verdicts WHERE verdict IS NOT NULL")
MENTIONS = Query("SELECT battle_id, cluster, difference FROM arena.rating_behaviours")
COLUMNS = ["behaviour", "basis", "battles", "differing", "coefficient", "se", "ci_low", "ci_high", "p_value", "error"]


def model_design(battles: pd.DataFrame) -> pd.DataFrame:
    """+1 for A's model, -1 for B's, the first model (alphabetically) left out as the reference."""
    models = sorted(set(battles.model_a) | set(battles.model_b))
    x = np.zeros((len(battles), len(models)))
    for side, sign in (("model_a", 1.0), ("model_b", -1.0)):
        x[np.arange(len(battles)), pd.Index(models).get_indexer(battles[side])] += sign
    return pd.DataFrame(x[:, 1:], index=battles.index, columns=models[1:])


def logit(battles: pd.DataFrame, difference: pd.Series) -> dict:
    """The behaviour's coefficient in P(A wins) = sigmoid(models + beta * difference), decided battles."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

    decided = battles.winner.isin(["model_a", "model_b"])
    data, d = battles[decided], difference[decided].astype(float)
    row = {"battles": int(len(data)), "differing": int((d != 0).sum())}
    if row["differing"] == 0:
        return {**row, "error": "no decided battle where one response shows it more"}
    x = model_design(data).assign(behaviour=d.to_numpy())
    y = (data.winner == "model_a").astype(float)
    if np.linalg.matrix_rank(x.to_numpy()) < x.shape[1]:
        return {**row, "error": "not identified: the behaviour goes with the models themselves"}
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            fit = sm.Logit(y.to_numpy(), x.to_numpy()).fit(disp=0, maxiter=200)
    except (PerfectSeparationError, PerfectSeparationWarning, np.linalg.LinAlgError) as exc:
        return {**row, "error": f"no finite fit ({type(exc).__name__}: perfect separation or a singular design)"}
    beta, se = float(fit.params[-1]), float(fit.bse[-1])
    low, high = fit.conf_int()[-1]
    return {**row, "coefficient": beta, "se": se, "ci_low": float(low), "ci_high": float(high),
            "p_value": float(fit.pvalues[-1])}


@table_step(deps=reads(BATTLES, BEHAVIOURS, VERDICTS, MENTIONS), layer=MODEL)
def behaviour_fits(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Per behaviour, its link to winning on measured verdicts and on the describer's mentions."""
    battles = warehouse.query(BATTLES).set_index("battle_id", drop=False)
    behaviours, verdicts = warehouse.query(BEHAVIOURS), warehouse.query(VERDICTS)
    mentions = warehouse.query(MENTIONS)
    rows = []
    for b in behaviours.itertuples():
        measured = verdicts[verdicts.behaviour == b.behaviour].set_index("battle_id").verdict
        scored = battles.loc[battles.index.intersection(measured.index)]
        rows.append({"behaviour": b.behaviour, "basis": "measured", **logit(scored, measured.loc[scored.index])})
        if b.source == "clusters":
            mentioned = mentions[mentions.cluster == str(b.cluster_id)].set_index("battle_id").difference
            rows.append({"behaviour": b.behaviour, "basis": "mentioned",
                         **logit(battles, mentioned.reindex(battles.index).fillna(0))})
    frame = pd.DataFrame(rows, columns=COLUMNS).astype({"coefficient": float, "se": float, "ci_low": float,
                                                        "ci_high": float, "p_value": float})
    fitted = frame[frame.basis == "measured"].coefficient.notna().sum()
    return one(frame, {"measured_fits": int(fitted)})
