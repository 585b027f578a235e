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
from pathlib import Path

import dagster as dg
import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from assets.cje.config import ESTIMATORS, ReportConfig
from resources.settings import load_settings
from resources.warehouse import Warehouse

RESULT_FIELDS = ("v_hat", "se", "ci_low", "ci_high", "oracle_truth", "absolute_error")
SEEDED = (["cje", "oracle_labels"], ["cje", "calibrated_rewards"])
SEED_FIELDS = {"oracle_fraction", "seed", "n_folds", "fold_seed", "labels_calibration",
               "labels_validation"}


def _clean(value):
    """JSON has no NaN: missing numbers are null."""
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def results_json(estimates: pd.DataFrame, pairwise: pd.DataFrame, guard_rails: pd.DataFrame,
                 headline: str) -> dict:
    def by_policy(frame: pd.DataFrame) -> dict:
        return {row.policy: {k: _clean(getattr(row, k)) for k in RESULT_FIELDS}
                for row in frame.itertuples()}

    head = pairwise[pairwise.estimator == headline]
    return {
        "estimator": headline,
        "results": by_policy(estimates[estimates.estimator == headline]),
        "results_by_estimator": {e: by_policy(g) for e, g in estimates.groupby("estimator")},
        "p_values_corrected": {f"{r.policy_a} vs {r.policy_b}": _clean(r.p_holm) for r in head.itertuples()},
        "p_values_corrected_method": "holm",
        "guard_rail_violations": [{k: _clean(v) for k, v in r.items()}
                                  for r in guard_rails.to_dict("records")],
    }


def plot_calibration(curve: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    fit, bins = curve[curve.kind == "fit"], curve[curve.kind == "bin"]
    ax.plot(fit.judge_score, fit.oracle, label="isotonic calibration (all labels)")
    ax.scatter(bins.judge_score, bins.oracle, s=20 + bins.n.astype(float), alpha=0.6,
               label="mean oracle label per judge-score decile")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="judge score", ylabel="oracle label", title="Judge -> oracle calibration")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_heatmap(pairwise: pd.DataFrame, policies: list[str], path: Path, estimator: str) -> None:
    matrix = pd.DataFrame(np.nan, index=policies, columns=policies)
    for r in pairwise.itertuples():
        matrix.loc[r.policy_a, r.policy_b] = matrix.loc[r.policy_b, r.policy_a] = r.p_holm
    fig, ax = plt.subplots(figsize=(1.6 * len(policies) + 2, 1.3 * len(policies) + 1.5))
    image = ax.imshow(matrix.to_numpy(float), cmap="viridis_r", vmin=0, vmax=1)
    ax.set_xticks(range(len(policies)), policies, rotation=30, ha="right")
    ax.set_yticks(range(len(policies)), policies)
    for i in range(len(policies)):
        for j in range(len(policies)):
            v = matrix.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", color="white" if v < 0.5 else "black")
    fig.colorbar(image, ax=ax, label="Holm-adjusted p-value")
    ax.set_title(f"Pairwise differences ({estimator})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def console_table(estimates: pd.DataFrame, headline: str) -> Table:
    table = Table(title=f"CJE estimates ({headline})")
    for col in ("policy", "v_hat", "95% CI", "se", "oracle truth", "|error|"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for r in estimates[estimates.estimator == headline].itertuples():
        fmt = lambda x: "n/a" if not np.isfinite(x) else f"{x:.3f}"  # noqa: E731
        table.add_row(r.policy, fmt(r.v_hat), f"[{fmt(r.ci_low)}, {fmt(r.ci_high)}]", fmt(r.se),
                      fmt(r.oracle_truth), fmt(r.absolute_error))
    return table


@dg.asset(
    key=["cje", "report"],
    deps=[["cje", "policy_estimates"], ["cje", "pairwise_tests"], ["cje", "guard_rails"],
          ["cje", "calibration_curve"], ["cje", "oracle_labels"]],
    group_name="cje",
    kinds={"python", "file"},
)
def report(context: dg.AssetExecutionContext, config: ReportConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """The run folder and its zip (see the module docstring); prints the results table."""
    if config.estimator not in ESTIMATORS:
        raise ValueError(f"report estimator {config.estimator!r}; valid: {', '.join(ESTIMATORS)}")
    estimates = warehouse.query("SELECT * FROM cje.policy_estimates")
    pairwise = warehouse.query("SELECT * FROM cje.pairwise_tests")
    guard_rails = warehouse.query("SELECT * FROM cje.guard_rails")
    curve = warehouse.query("SELECT * FROM cje.calibration_curve")
    policies = warehouse.query("SELECT policy FROM cje.policies ORDER BY NOT is_base, policy").policy.tolist()

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder = load_settings(warehouse.settings_file or None).path("reports") / "cje" / stamp
    folder.mkdir(parents=True, exist_ok=True)
    results = results_json(estimates, pairwise, guard_rails, config.estimator)
    (folder / "token_level_cje_results.json").write_text(json.dumps(results, indent=2))
    plot_calibration(curve, folder / "calibration_curve.png")
    plot_heatmap(pairwise[pairwise.estimator == config.estimator], policies,
                 folder / "comparison_heatmap.png", config.estimator)
    with (folder / "stochastic_log.jsonl").open("w") as log:
        for key in SEEDED:  # each seeded step records its effective config in its metadata
            event = context.instance.get_latest_materialization_event(dg.AssetKey(key))
            meta = event.asset_materialization.metadata if event else {}
            log.write(json.dumps({"step": "/".join(key), "run_id": event.run_id if event else None,
                                  **{k: v.value for k, v in meta.items() if k in SEED_FIELDS}}) + "\n")
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
