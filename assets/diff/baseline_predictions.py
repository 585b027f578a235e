"""`diff.baseline_predictions`: P(A) per row from classifiers that need no LLM (stages
`length_baseline` and `lexical_baseline`, iteration 0; analysis/diff_baselines.py), fitted on
the seen rows. `diff.iteration_metrics` scores them beside the LLM's stages."""

import dagster as dg

from analysis.diff_baselines import baseline_predictions as predict
from assets.lineage import MODEL, Query, reads
from resources.warehouse import Warehouse

ROWS = Query("SELECT row_id, side, split, text FROM diff.rows ORDER BY side, idx")


@dg.asset(key=["diff", "baseline_predictions"], deps=reads(ROWS), group_name="diff", kinds={"duckdb", "python"},
          tags=MODEL)
def baseline_predictions(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """P(A) per row from a length-only and a TF-IDF logistic regression."""
    frame = predict(warehouse.query(ROWS))
    n = warehouse.write_table("diff.baseline_predictions", frame, context=context)
    return dg.MaterializeResult(metadata={"dagster/row_count": n, "stages": sorted(set(frame.stage))})
