"""`acts/results`: the source tool's results files, one per layer and method, read from the warehouse.

<output_dir>/results/vars/{method}_results_{model_id}_layer{layer}.json holds
`results_by_cluster_size[k]` with `all_results` (one entry per repetition: categories as
[cluster_id, title, description], the scores, and per category its figures and examples),
`avg_final_score`, `statistics` (mean, std, sem and t-based 95% CI of each graded metric over
repetitions, from acts.clustering_scores) and the label-free metrics; and `best_cluster`, the k
with the highest mean final score.
"""

import json
import math
from datetime import datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.acts.config import ResultsConfig
from assets.lineage import RESULT, Query, reads
from resources.warehouse import Warehouse

N_EXAMPLES = 5
# the source tool's names for the graded metrics in `statistics`
STATISTICS = {"accuracy": "avg_accuracy", "precision": "avg_precision", "recall": "avg_recall", "f1": "avg_f1",
              "completeness": "avg_confidence", "orthogonality": "semantic_orthogonality_score",
              "final_score": "final_score"}


def _clean(value):
    """JSON has no NaN: missing figures are null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


def method_results(method: str, means: pd.Series, reps: pd.DataFrame, cats: pd.DataFrame, scores: pd.DataFrame,
                   titles: pd.DataFrame, text: pd.Series) -> dict:
    by_size = {}
    for k in sorted(set(scores.k)):
        all_results = []
        for rep in _records(reps[reps.k == k].sort_values("repetition")):
            rep_cats = cats[(cats.k == k) & (cats.repetition == rep["repetition"])].sort_values("cluster_id")
            shown = titles[(titles.k == k) & (titles.repetition == rep["repetition"])].set_index("cluster_id")
            detailed = {str(c["cluster_id"]): {
                **{key: c[key] for key in ("title", "description", "size", "accuracy", "precision", "recall", "f1",
                                           "completeness")},
                "examples": [text[s] for s in shown.shown_sentence_ids[c["cluster_id"]][:N_EXAMPLES]]}
                for c in _records(rep_cats)}
            all_results.append({**rep, "categories": [[c["cluster_id"], c["title"], c["description"]]
                                                      for c in _records(rep_cats)],
                                 "detailed_results": detailed})
        k_scores = scores[scores.k == k].set_index("metric")
        graded = k_scores[k_scores.kind == "graded"]
        statistics = {STATISTICS[m]: {"mean": _clean(r["mean"]), "std": _clean(r["sd"]), "sem": _clean(r["sem"]),
                                      "ci_low": _clean(r["ci_low"]), "ci_high": _clean(r["ci_high"]), "n": int(r["n"])}
                      for m, r in graded.iterrows()}
        label_free = {m: _clean(r["mean"]) for m, r in k_scores[k_scores.kind == "label_free"].iterrows()}
        by_size[str(k)] = {"all_results": all_results,
                           "avg_final_score": statistics.get("final_score", {}).get("mean"),
                           "statistics": statistics, "label_free": label_free}
    ranked = [(v["avg_final_score"], int(k)) for k, v in by_size.items() if v["avg_final_score"] is not None]
    best = max(ranked) if ranked else None
    return {"model": means.model, "model_id": means.model_id, "layer": int(means.layer), "clustering_method": method,
            "n_sentences": int(means.n_sentences), "results_by_cluster_size": by_size,
            "best_cluster": {"size": best[1], "avg_final_score": best[0]} if best else None}


MEANS = Query("SELECT * FROM acts.activation_means")
SCORES = Query("SELECT * FROM acts.clustering_scores")
REPETITIONS = Query("SELECT * FROM acts.repetition_scores")
CATEGORIES = Query("SELECT * FROM acts.category_scores")
SHOWN = Query("SELECT layer, method, k, repetition, cluster_id, shown_sentence_ids FROM acts.cluster_titles")
SENTENCE_TEXT = Query("SELECT sentence_id, text FROM acts.sentences")


@dg.asset(key=["acts", "results"], group_name="acts", kinds={"json"}, tags=RESULT,
          deps=reads(MEANS, SCORES, REPETITIONS, CATEGORIES, SHOWN, SENTENCE_TEXT))
def results(context: dg.AssetExecutionContext, config: ResultsConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """The results JSON per layer and method (the source tool's format)."""
    means = warehouse.query(MEANS).set_index("layer", drop=False)
    scores = warehouse.query(SCORES)
    reps = warehouse.query(REPETITIONS)
    cats = warehouse.query(CATEGORIES)
    titles = warehouse.query(SHOWN)
    text = warehouse.query(SENTENCE_TEXT).set_index("sentence_id").text
    root = Path(config.output_dir or warehouse.settings.path("reports") / "acts" / datetime.now().strftime("%Y%m%d-%H%M%S"))
    out_dir = root / "results" / "vars"
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for layer, method in sorted(set(zip(scores.layer, scores.method))):
        def of(frame):
            return frame[(frame.layer == layer) & (frame.method == method)]

        doc = method_results(method, means.loc[layer], of(reps), of(cats), of(scores), of(titles), text)
        path = out_dir / f"{method}_results_{means.model_id[layer]}_layer{int(layer)}.json"
        path.write_text(json.dumps(doc, indent=2))
        files.append(str(path))
    return dg.MaterializeResult(metadata={"files": files, "output_dir": dg.MetadataValue.path(str(root))})
