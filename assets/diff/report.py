"""The dataset-difference report: classify.yaml (the final prompt and what A and B are) and plots.

classify.yaml can be loaded to classify new rows with the same prompt (`load_classifier`,
`classify_texts`); classifying the same rows again is answered from the call cache.
"""

from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import yaml

from assets.diff import prompts
from assets.diff.config import ReportConfig
from assets.diff.loop import classify
from resources.llm import LLM, RoleClient
from resources.warehouse import Warehouse


def load_classifier(path: str | Path) -> dict:
    spec = yaml.safe_load(Path(path).read_text())
    missing = [k for k in ("prompt", "labels", "classifier") if k not in (spec or {})]
    if missing:
        raise ValueError(f"{path}: not a classify.yaml (missing {', '.join(missing)})")
    return spec


def classify_texts(client: RoleClient, spec: dict, texts: list[str]) -> list[dict]:
    return [classify(client, spec["prompt"], text) for text in texts]


def plot_iterations(metrics, path: Path) -> None:
    loop = metrics[metrics.stage == "loop"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for split, group in loop.groupby("split"):
        group = group.sort_values("iteration")
        axes[0].errorbar(group.iteration, group.accuracy, marker="o", label=split,
                         yerr=[group.accuracy - group.accuracy_ci_low, group.accuracy_ci_high - group.accuracy])
        axes[1].plot(group.iteration, group.mean_confidence, marker="o", label=split)
    axes[0].axhline(0.5, color="grey", linestyle=":")
    axes[0].set(xlabel="iteration", ylabel="accuracy (95% CI)", ylim=(0, 1), title="Accuracy")
    axes[1].set(xlabel="iteration", ylabel="mean confidence", ylim=(0.5, 1), title="Confidence")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(bins, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    for (stage, split), group in bins.groupby(["stage", "split"]):
        ax.plot(group.mean_predicted, group.share_a, marker="o", label=f"{stage}, {split}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(xlabel="predicted P(A)", ylabel="share of rows from A", title="Reliability of P(A)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@dg.asset(key=["diff", "report"], group_name="diff", kinds={"python", "file"},
          deps=[["diff", "iteration_metrics"], ["diff", "reliability"], ["diff", "iterations"],
                ["diff", "rows"]])
def report(context: dg.AssetExecutionContext, config: ReportConfig, llm: LLM,
           warehouse: Warehouse) -> dg.MaterializeResult:
    """classify.yaml, accuracy_by_iteration.png and reliability.png in the report folder."""
    metrics = warehouse.query("SELECT * FROM diff.iteration_metrics")
    bins = warehouse.query("SELECT * FROM diff.reliability")
    final = warehouse.query("SELECT description FROM diff.iterations ORDER BY iteration DESC LIMIT 1")
    counts = warehouse.query("SELECT side, count(*) AS n FROM diff.rows GROUP BY side").set_index("side").n
    event = context.instance.get_latest_materialization_event(dg.AssetKey(["diff", "rows"]))
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()} if event else {}
    folder = Path(config.output_dir) if config.output_dir else (
        warehouse.settings.path("reports") / "diff"
        / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S"))
    folder.mkdir(parents=True, exist_ok=True)
    classifier = llm.settings.role("classifier")
    headline = metrics[(metrics.stage == "final") & (metrics.split == "unseen")]
    spec = {
        "prompt": final.description[0],
        "classifier_template": prompts.CLASSIFIER,
        "labels": {side: {"source": meta.get(side.lower()), "column": meta.get(f"text_column_{side.lower()}"),
                          "rows": int(counts.get(side, 0))} for side in ("A", "B")},
        "classifier": {"backend": classifier.backend, "model": classifier.model},
        "created_at": datetime.now(timezone.utc).isoformat(),
        "unseen_metrics": {k: float(headline[k].iloc[0]) for k in ("accuracy", "auroc", "brier")
                           if len(headline) and headline[k].notna().all()},
    }
    (folder / "classify.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    plot_iterations(metrics, folder / "accuracy_by_iteration.png")
    plot_reliability(bins, folder / "reliability.png")
    return dg.MaterializeResult(metadata={"folder": dg.MetadataValue.path(str(folder)),
                                          **{f"unseen_{k}": v for k, v in spec["unseen_metrics"].items()}})
