"""The CJE run folder: `<reports>/cje/<timestamp>/` with the source tool's files, and its zip.

token_level_cje_results.json  results.{policy}.{v_hat, se, ci_low, ci_high, oracle_truth,
                               absolute_error} for the headline estimator, the same for every
                               estimator, p_values_corrected (Holm), guard_rail_violations
calibration_curve.png          judge score -> oracle (fit and binned label means)
comparison_heatmap.png         pairwise Holm p-values of the headline estimator
stochastic_log.jsonl           every seeded choice of the run (labels kept, folds)
Everything is read from the warehouse tables; nothing is recomputed here.
"""

import json
import shutil
from datetime import datetime, timezone

import dagster as dg
from rich.console import Console

from analysis.cje_report import console_table, plot_calibration, plot_heatmap, results_json
from assets.cje.config import ESTIMATORS, ReportConfig
from assets.lineage import RESULT, Query, reads
from resources.settings import load_settings
from resources.warehouse import Warehouse

ESTIMATES = Query("SELECT * FROM cje.policy_estimates")
PAIRWISE = Query("SELECT * FROM cje.pairwise_tests")
GUARD_RAILS = Query("SELECT * FROM cje.guard_rails")
CURVE = Query("SELECT * FROM cje.calibration_curve")
POLICIES = Query("SELECT policy FROM cje.policies ORDER BY NOT is_base, policy")
# every seeded choice of the run: the steps' run config as they ran, and the labels it kept
SEEDED_STEPS = Query("""
    SELECT table_name AS step, run_id, config FROM core.materializations
    WHERE table_name IN ('cje.oracle_labels', 'cje.calibrated_rewards') ORDER BY table_name DESC
""")
LABEL_SPLITS = Query("SELECT split, count(*) AS n FROM cje.oracle_labels GROUP BY split ORDER BY split")


@dg.asset(
    key=["cje", "report"],
    deps=reads(ESTIMATES, PAIRWISE, GUARD_RAILS, CURVE, POLICIES, LABEL_SPLITS),
    group_name="cje",
    kinds={"python", "file"},
    tags=RESULT,
)
def report(context: dg.AssetExecutionContext, config: ReportConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """The run folder and its zip (see the module docstring); prints the results table."""
    if config.estimator not in ESTIMATORS:
        raise ValueError(f"report estimator {config.estimator!r}; valid: {', '.join(ESTIMATORS)}")
    estimates = warehouse.query(ESTIMATES)
    pairwise = warehouse.query(PAIRWISE)
    guard_rails = warehouse.query(GUARD_RAILS)
    curve = warehouse.query(CURVE)
    policies = warehouse.query(POLICIES).policy.tolist()

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder = load_settings(warehouse.settings_file or None).path("reports") / "cje" / stamp
    folder.mkdir(parents=True, exist_ok=True)
    results = results_json(estimates, pairwise, guard_rails, config.estimator)
    (folder / "token_level_cje_results.json").write_text(json.dumps(results, indent=2))
    plot_calibration(curve, folder / "calibration_curve.png")
    plot_heatmap(pairwise[pairwise.estimator == config.estimator], policies,
                 folder / "comparison_heatmap.png", config.estimator)
    labels = {f"labels_{r.split}": int(r.n) for r in warehouse.query(LABEL_SPLITS).itertuples()}
    with (folder / "stochastic_log.jsonl").open("w") as log:
        for step in warehouse.query(SEEDED_STEPS).itertuples():
            config_used = json.loads(step.config) if step.config else {}
            extra = labels if step.step == "cje.oracle_labels" else {}
            log.write(json.dumps({"step": step.step, "run_id": step.run_id, **config_used, **extra}) + "\n")
    archive = shutil.make_archive(str(folder), "zip", root_dir=folder)

    console = Console(width=110, record=True)
    console.print(console_table(estimates, config.estimator))
    context.log.info("\n" + console.export_text())
    return dg.MaterializeResult(metadata={
        "run_folder": dg.MetadataValue.path(str(folder)),
        "zip": dg.MetadataValue.path(archive),
        "guard_rail_violations": len(guard_rails),
        "results": dg.MetadataValue.md(console.export_text()),
    })
