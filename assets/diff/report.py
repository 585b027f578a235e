"""The dataset-difference report: classify.yaml (the final prompt and what A and B are) and plots.

classify.yaml can be loaded to classify new rows with the same prompt (`load_classifier`,
`classify_texts`); classifying the same rows again is answered from the call cache.
"""

import json
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import yaml

from analysis.diff_figures import plot_iterations, plot_reliability
from assets.diff import prompts
from assets.diff.config import ReportConfig
from assets.diff.iterations import classify
from assets.lineage import RESULT, Query, reads
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


METRICS = Query("SELECT * FROM diff.iteration_metrics")
STAGES = ("final", "lexical_baseline", "length_baseline")
BINS = Query("SELECT * FROM diff.reliability")
FINAL = Query("SELECT description FROM diff.iterations ORDER BY iteration DESC LIMIT 1")
SIDES = Query("SELECT side, n FROM diff.side_counts")
ROWS_CONFIG = Query("SELECT config FROM core.materializations WHERE table_name = 'diff.rows'")


@dg.asset(key=["diff", "report"], group_name="diff", kinds={"python", "file"}, tags=RESULT,
          deps=reads(METRICS, BINS, FINAL, SIDES))
def report(context: dg.AssetExecutionContext, config: ReportConfig, llm: LLM,
           warehouse: Warehouse) -> dg.MaterializeResult:
    """classify.yaml, accuracy_by_iteration.png and reliability.png in the report folder."""
    metrics = warehouse.query(METRICS)
    bins = warehouse.query(BINS)
    final = warehouse.query(FINAL)
    counts = warehouse.query(SIDES).set_index("side").n
    rows_config = json.loads(warehouse.query(ROWS_CONFIG).config.iloc[0] or "{}")  # as diff.rows ran
    folder = Path(config.output_dir) if config.output_dir else (
        warehouse.settings.path("reports") / "diff"
        / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S"))
    folder.mkdir(parents=True, exist_ok=True)
    classifier = llm.settings.role("classifier")
    headline = metrics[(metrics.stage == "final") & (metrics.split == "unseen")]
    spec = {
        "prompt": final.description[0],
        "classifier_template": prompts.CLASSIFIER,
        "labels": {"A": {"source": rows_config.get("a"), "column": rows_config.get("text_column"),
                         "rows": int(counts.get("A", 0))},
                   "B": {"source": rows_config.get("b"),
                         "column": rows_config.get("text_column_b") or rows_config.get("text_column"),
                         "rows": int(counts.get("B", 0))}},
        "classifier": {"backend": classifier.backend, "model": classifier.model},
        "created_at": datetime.now(timezone.utc).isoformat(),
        "unseen_metrics": {k: float(headline[k].iloc[0]) for k in ("accuracy", "auroc", "brier")
                           if len(headline) and headline[k].notna().all()},
        # what the prompt has to beat: the same rows told apart by words alone, and by length alone
        "unseen_accuracy_by_stage": {
            r.stage: {"accuracy": float(r.accuracy), "ci": [float(r.accuracy_ci_low), float(r.accuracy_ci_high)],
                      "auroc": float(r.auroc), "auroc_ci": [float(r.auroc_ci_low), float(r.auroc_ci_high)],
                      "n": int(r.n)}
            for r in metrics[(metrics.split == "unseen") & metrics.stage.isin(STAGES) & (metrics.n > 0)].itertuples()},
    }
    (folder / "classify.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    plot_iterations(metrics, folder / "accuracy_by_iteration.png")
    plot_reliability(bins, folder / "reliability.png")
    return dg.MaterializeResult(metadata={"folder": dg.MetadataValue.path(str(folder)),
                                          **{f"unseen_{k}": v for k, v in spec["unseen_metrics"].items()}})
