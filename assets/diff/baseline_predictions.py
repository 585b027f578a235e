"""`diff.baseline_predictions`: P(A) per row from classifiers that need no LLM (stages
`length_baseline` and `lexical_baseline`, iteration 0; analysis/diff_baselines.py), fitted on
the seen rows. `diff.iteration_metrics` scores them beside the LLM's stages."""

import dagster as dg

from analysis.diff_baselines import baseline_predictions as predict
from assets.core.tables import Written, one, table_step
from assets.lineage import MODEL, Query, reads
from resources.warehouse import Warehouse

ROWS = Query("SELECT row_id, side, split, text FROM diff.rows ORDER BY side, idx")


@table_step(deps=reads(ROWS), layer=MODEL)
def baseline_predictions(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Written:
    """P(A) per row from a length-only and a TF-IDF logistic regression."""
    frame = predict(warehouse.query(ROWS))
    return one(frame, {"stages": sorted(set(frame.stage))})
