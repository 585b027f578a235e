"""`acts.grades`: the role `grader`'s verdicts on the namer's categories, one row per question.

Per layer x method x k x repetition, for each titled cluster:
- `membership` (for accuracy / precision / recall / F1): `n_test` of the cluster's sentences and
  `n_test` of other clusters' sentences; does the sentence belong to the described category?
- `membership_shuffled`, the control: the same `n_test` cluster sentences asked against another
  cluster's title and description (`other_cluster_id`, drawn per category). A grader that reads
  the category accepts its own sentences more often than under a shuffled title; one that says
  yes to anything accepts both alike (acts.category_scores tests the difference).
- `completeness`: the same `n_test` cluster sentences; 0-10 fit to the category's description.
- `similarity` (for semantic orthogonality): every pair of categories; 0-10 similarity.
Test sentences never include what the namer saw in that repetition. Output that does not parse
is kept with its error and left out of the scores (the SQL models count it). Scores are computed
in SQL: acts.category_scores, acts.repetition_scores, acts.clustering_scores.
"""

import zlib
from itertools import combinations

import dagster as dg
import numpy as np
import pandas as pd

from assets.acts import prompts
from assets.acts.cluster_assignments import MEANS, batch_tag
from assets.acts.config import METRICS, GradesConfig
from assets.core.llm_calls import LLM_KIND
from assets.core.partitions import llm_stage_partitions, partition_tag, rows_of_partition
from assets.core.pools import model_pool
from assets.core.tables import Written, one, table_step
from assets.lineage import MODEL, Query, reads
from assets.progress import Progress
from resources.llm import LLM, batch
from resources.warehouse import Warehouse


TITLES = Query("SELECT * FROM acts.cluster_titles ORDER BY layer, method, k, repetition, cluster_id")
ASSIGNMENTS = Query("SELECT * FROM acts.cluster_assignments ORDER BY layer, method, k, sentence_id")
SENTENCE_TEXT = Query("SELECT sentence_id, text FROM acts.sentences")


def _message(template: str, **values) -> list[dict]:
    return [{"role": "user", "content": template.format(**values)}]


def grading_requests(config: GradesConfig, titles: pd.DataFrame, assignments: pd.DataFrame,
                     text: pd.Series) -> tuple[list[dict], list[dict]]:
    """Requests (for run_batch) and the row each answer fills in."""
    unknown = sorted(set(config.metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown grading metric(s) {unknown}; valid: {', '.join(METRICS)}")
    requests, rows = [], []

    def add(template: str, schema: dict, row: dict, **values) -> None:
        requests.append({"method": "chat_json", "messages": _message(template, **values), "schema": schema})
        rows.append(row)

    for (layer, method, k, rep), cats in titles.groupby(["layer", "method", "k", "repetition"], sort=True):
        seen = {s for ids in cats.shown_sentence_ids for s in ids}  # untitled categories' too
        cats = cats[cats.title.notna()].set_index("cluster_id").sort_index()
        members = assignments[(assignments.layer == layer) & (assignments.method == method) & (assignments.k == k)]
        pool = members[~members.sentence_id.isin(seen)]
        base = {"layer": int(layer), "method": method, "k": int(k), "repetition": int(rep)}
        for cluster_id, cat in cats.iterrows():
            rng = np.random.default_rng([config.seed, int(k), int(cluster_id), int(rep), zlib.crc32(method.encode())])
            inside = pool.sentence_id[pool.cluster_id == cluster_id].to_numpy()
            outside = pool.sentence_id[pool.cluster_id != cluster_id].to_numpy()
            positives = rng.choice(inside, min(config.n_test, len(inside)), replace=False)
            negatives = rng.choice(outside, min(config.n_test, len(outside)), replace=False)
            category = {"title": cat.title, "description": cat.description}
            row = {**base, "cluster_id": int(cluster_id), "other_cluster_id": None, "threshold": None}
            others = cats.index[cats.index != cluster_id]
            if "accuracy" in config.metrics:
                for sentence_id, truth in [*((s, True) for s in positives), *((s, False) for s in negatives)]:
                    add(prompts.MEMBERSHIP, prompts.MEMBERSHIP_SCHEMA,
                        {**row, "metric": "membership", "sentence_id": sentence_id, "truth": truth},
                        sentence=text[sentence_id], **category)
                if len(others):
                    decoy = int(rng.choice(others))
                    for sentence_id in positives:
                        add(prompts.MEMBERSHIP, prompts.MEMBERSHIP_SCHEMA,
                            {**row, "metric": "membership_shuffled", "other_cluster_id": decoy,
                             "sentence_id": sentence_id, "truth": False},
                            sentence=text[sentence_id], title=cats.title[decoy], description=cats.description[decoy])
            if "completeness" in config.metrics:
                for sentence_id in positives:
                    add(prompts.COMPLETENESS, prompts.SCORE_SCHEMA,
                        {**row, "metric": "completeness", "sentence_id": sentence_id, "truth": None},
                        sentence=text[sentence_id], **category)
        if "orthogonality" in config.metrics:
            for (a, cat_a), (b, cat_b) in combinations(cats.iterrows(), 2):
                add(prompts.SIMILARITY, prompts.SCORE_SCHEMA,
                    {**base, "metric": "similarity", "cluster_id": int(a), "other_cluster_id": int(b),
                     "sentence_id": None, "truth": None, "threshold": config.orthogonality_threshold},
                    title_a=cat_a.title, description_a=cat_a.description,
                    title_b=cat_b.title, description_b=cat_b.description)
    return requests, rows


def answer(result) -> float | None:
    if not result.ok:
        return None
    value = result.value
    return float(value["belongs"]) if "belongs" in value else float(value["score"])


@table_step(deps=reads(TITLES, ASSIGNMENTS, SENTENCE_TEXT, MEANS), layer=MODEL, kinds={"duckdb", LLM_KIND},
            pool=model_pool("grader"), partitions_def=llm_stage_partitions())
def grades(context: dg.AssetExecutionContext, config: GradesConfig, llm: LLM,
           warehouse: Warehouse) -> Written:
    """Membership, completeness and similarity verdicts of role grader."""
    # a partition owns whole clusterings (layer, method, k): completeness and similarity compare their clusters
    titles = rows_of_partition(context, warehouse.query(TITLES), ["layer", "method", "k"])
    assignments = rows_of_partition(context, warehouse.query(ASSIGNMENTS), ["layer", "method", "k"])
    text = warehouse.query(SENTENCE_TEXT).set_index("sentence_id").text
    requests, rows = grading_requests(config, titles, assignments, text)
    untitled = int(titles.title.isna().sum())
    if untitled:
        context.log.warning(f"{untitled} categories have no parseable title and are not graded")
    client = llm.client("grader", context)
    results = batch.run(client, requests, llm.batches_folder, config.batches,
                        tag="_".join(filter(None, [batch_tag(warehouse), partition_tag(context)])) if config.batches else "",
                        progress=Progress(context, "grader", len(requests)).step)
    frame = pd.DataFrame([{**row, "answer": answer(r), "error": r.error, "raw": None if r.ok else r.raw}
                          for row, r in zip(rows, results)],
                         columns=["layer", "method", "k", "repetition", "metric", "cluster_id", "other_cluster_id",
                                  "sentence_id", "truth", "threshold", "answer", "error", "raw"])
    frame = frame.astype({"other_cluster_id": "Int64", "threshold": "Float64", "truth": "boolean",
                          "answer": "Float64"})  # a number even when no answer parsed (all None)
    n = len(frame)
    unparsed = int(frame.error.notna().sum())
    if unparsed:
        context.log.warning(f"{unparsed} of {n} grader answers did not parse: recorded, left out of the scores")
    return one(frame, {"grader_calls": len(requests),
                       "unparsed": unparsed, "untitled_categories": untitled})
