"""The CJE run folder: `<reports>/cje/<timestamp>/` with the source tool's files, and its zip.

token_level_cje_results.json  the decision (cje.decision), results.{policy}.{v_hat, se, ci_low,
                               ci_high, oracle_truth, absolute_error} for the headline estimator,
                               the same for every estimator, p_values_corrected (Holm),
                               guard_rail_violations
results.csv                    a row per policy and estimator (the source tool's CSV export)
calibration_curve.png          judge score -> oracle (fit and binned label means)
comparison_heatmap.png         pairwise Holm p-values of the headline estimator
weight_diagnostics.png         each policy's importance weights on a log scale (cje.weight_histogram)
stochastic_log.jsonl           one row per interaction: prompt id, policy, source (logged, fresh,
                               probe), response, its token log-probabilities (where the logs carry
                               them), the base's log-probability of a logged response, the judge's
                               raw and calibrated score, the oracle label and its split if any, the
                               fold, and the seeds of the run
Everything is read from the warehouse tables; nothing is recomputed here.
"""

import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pandas as pd
from rich.console import Console

from analysis.cje_report import console_table, plot_calibration, plot_heatmap, plot_weights, results_json
from assets.cje.config import ReportConfig
from assets.lineage import RESULT, Query, reads
from resources.warehouse import Warehouse

ESTIMATES = Query("SELECT * FROM cje.policy_estimates")
DECISION = Query("SELECT * FROM cje.decision")
WEIGHTS = Query("SELECT * FROM cje.weight_histogram")
WEIGHT_DIAGNOSTICS = Query("SELECT * FROM cje.weight_diagnostics ORDER BY policy")
PAIRWISE = Query("SELECT * FROM cje.pairwise_tests")
GUARD_RAILS = Query("SELECT * FROM cje.guard_rails")
CURVE = Query("SELECT * FROM cje.calibration_curve")
POLICIES = Query("SELECT policy FROM cje.policies ORDER BY NOT is_base, policy")
# the seeded steps' run config as they ran
SEEDS = Query("""
    WITH step_configs AS (
        SELECT table_name, config::JSON AS config FROM core.materializations
        WHERE table_name IN ('cje.oracle_labels', 'cje.calibrated_rewards')
    )
    SELECT
        max(CASE WHEN table_name = 'cje.oracle_labels' THEN (config->>'seed')::BIGINT END) AS oracle_label_seed,
        max(CASE WHEN table_name = 'cje.oracle_labels' THEN (config->>'oracle_fraction')::DOUBLE END)
            AS oracle_fraction,
        max(CASE WHEN table_name = 'cje.calibrated_rewards' THEN (config->>'fold_seed')::BIGINT END) AS fold_seed,
        max(CASE WHEN table_name = 'cje.calibrated_rewards' THEN (config->>'n_folds')::BIGINT END) AS n_folds
    FROM step_configs
""")
INTERACTIONS = Query("SELECT * FROM cje.interactions ORDER BY source, policy, prompt_id, draw_idx")


def zip_folder(folder: Path) -> str:
    """`<folder>.zip` at deflate level 1: about 3x level 6's speed on a log of millions of rows."""
    archive = folder.parent / f"{folder.name}.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, path.relative_to(folder))
    return str(archive)


@dg.asset(
    key=["cje", "report"],
    deps=reads(ESTIMATES, DECISION, WEIGHTS, WEIGHT_DIAGNOSTICS, PAIRWISE, GUARD_RAILS, CURVE, POLICIES, INTERACTIONS),
    group_name="cje",
    kinds={"python", "file"},
    tags=RESULT,
)
def report(context: dg.AssetExecutionContext, config: ReportConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """The run folder and its zip (see the module docstring); prints the results table."""
    estimates = warehouse.query(ESTIMATES)
    decision = warehouse.query(DECISION).iloc[0]
    headline, rule = decision.estimator, decision.estimator_rule
    pairwise = warehouse.query(PAIRWISE)
    guard_rails = warehouse.query(GUARD_RAILS)
    curve = warehouse.query(CURVE)
    policies = warehouse.query(POLICIES).policy.tolist()

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder = Path(config.run_folder) if config.run_folder else warehouse.settings.path("reports") / "cje" / stamp
    folder.mkdir(parents=True, exist_ok=True)
    results = {"decision": {k: (v.tolist() if hasattr(v, "tolist") else None if pd.isna(v) else v)
                            for k, v in decision.items() if k not in ("estimator", "estimator_rule")},
               **results_json(estimates, pairwise, guard_rails, headline, rule)}
    (folder / "token_level_cje_results.json").write_text(json.dumps(results, indent=2))
    estimates.to_csv(folder / "results.csv", index=False)
    plot_calibration(curve, folder / "calibration_curve.png")
    plot_heatmap(pairwise[pairwise.estimator == headline], policies, folder / "comparison_heatmap.png", headline)
    plot_weights(warehouse.query(WEIGHTS), warehouse.query(WEIGHT_DIAGNOSTICS), folder / "weight_diagnostics.png")
    # NULL where a step ran without config (or with none of these keys)
    seeds = {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v)
             for k, v in warehouse.query(SEEDS).iloc[0].items()}
    # written by DuckDB straight from the warehouse: a row per interaction is millions of rows at
    # scale (bench/cje_scale.py)
    literal = "'" + json.dumps(seeds).replace("'", "''") + "'"
    warehouse.copy_to(f"SELECT *, {literal}::JSON AS seeds FROM ({INTERACTIONS})", folder / "stochastic_log.jsonl")
    archive = zip_folder(folder)

    console = Console(width=110, record=True)
    best = f"Best policy by {headline}: {decision.best_policy}" if decision.best_policy else "No best policy"
    console.print(f"{best}. {decision.note}", soft_wrap=False)
    console.print(console_table(estimates, headline, rule))
    context.log.debug("\n" + console.export_text())  # in the run log; the command prints it once
    return dg.MaterializeResult(metadata={
        "run_folder": dg.MetadataValue.path(str(folder)),
        "zip": dg.MetadataValue.path(archive),
        "guard_rail_violations": len(guard_rails),
        "estimator": headline, "estimator_rule": rule, "decision_ready": bool(decision.decision_ready),
        "results": dg.MetadataValue.md(console.export_text()),
    })
