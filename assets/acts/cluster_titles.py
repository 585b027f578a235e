"""`acts.cluster_titles`: a title and a description for every layer x method x k x cluster x repetition.

The role `namer` sees the cluster's c-TF-IDF keywords (`keywords`, against the other clusters of
the same layer, method and k), its most central members (cosine to the centroid), random other members
(drawn anew each repetition) and a few whole thinking spans that contain central members. `name`
is the title where it names something, else the keywords (`named_by`); the grader grades the title.
What it saw is stored (`shown_sentence_ids`) so the grader tests on other sentences. Empty
clusters get no title. `batches` writes an OpenAI Batch API file and stops until it is ingested.
"""

import zlib

import dagster as dg
import numpy as np
import pandas as pd

from analysis.keywords import cluster_keywords, shown_names
from assets.acts import prompts
from assets.acts.cluster_assignments import MEANS, VECTORS, batch_tag, vectors_of
from assets.acts.config import TitlesConfig
from assets.acts.sentences import thinking_span
from assets.core.llm_calls import LLM_KIND
from assets.core.pools import model_pool
from assets.core.tables import Written, one, table_step
from assets.lineage import MODEL, Query, reads
from assets.progress import Progress
from resources.llm import LLM, batch
from resources.warehouse import Warehouse


ASSIGNMENTS = Query("SELECT * FROM acts.cluster_assignments ORDER BY layer, method, k, sentence_id")
SENTENCES = Query("SELECT sentence_id, trace_id, text FROM acts.sentences")
TRACES = Query("SELECT trace_id, full_response FROM acts.traces")


def shown_members(ids: np.ndarray, vectors: np.ndarray, n_central: int, n_random: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the most central members and of random others (into ids/vectors)."""
    centroid = vectors.mean(axis=0)
    order = np.argsort(-(vectors @ centroid), kind="stable")
    central, rest = order[:n_central], order[n_central:]
    chosen = rng.choice(rest, size=min(n_random, len(rest)), replace=False) if len(rest) else rest
    return central, np.sort(chosen)


def trace_context(traces: pd.Series, trace_ids: list[int], chars: int) -> str:
    parts = []
    for trace_id in trace_ids:
        text = traces[trace_id]
        start, end = thinking_span(text) or (0, len(text))
        span = text[start:end].strip()
        parts.append(f"<trace>\n{span[:chars]}{' [...]' if len(span) > chars else ''}\n</trace>")
    return "\n".join(parts) or "(none)"


def naming_requests(config: TitlesConfig, assignments: pd.DataFrame, sentences: pd.DataFrame,
                    vectors: dict[tuple[int, str], np.ndarray], traces: pd.Series) -> tuple[list[dict], list[dict]]:
    """One request per layer x method x k x non-empty cluster x repetition, and what each one showed."""
    requests, shown = [], []
    for (layer, method, k), group in assignments.groupby(["layer", "method", "k"], sort=True):
        keywords = cluster_keywords(sentences.loc[group.sentence_id, "text"], group.cluster_id)
        for cluster_id, members in group.groupby("cluster_id", sort=True):
            ids = members.sentence_id.to_numpy()
            member_vectors = np.stack([vectors[layer, i] for i in ids])
            for rep in range(config.repetitions):
                rng = np.random.default_rng([config.seed, int(k), int(cluster_id), rep, zlib.crc32(method.encode())])
                central, chosen = shown_members(ids, member_vectors, config.n_central, config.n_random, rng)
                text = sentences.loc[ids, "text"]
                trace_ids = list(dict.fromkeys(sentences.loc[ids[central], "trace_id"]))[:config.n_traces]
                message = prompts.NAMER.format(
                    keywords=", ".join(keywords[cluster_id]) or "(none)",
                    central="\n".join(f"- {t}" for t in text.iloc[central]),
                    random="\n".join(f"- {t}" for t in text.iloc[chosen]) or "(none)",
                    traces=trace_context(traces, trace_ids, config.trace_chars))
                requests.append({"method": "chat_json", "messages": [{"role": "user", "content": message}],
                                 "schema": prompts.TITLE_SCHEMA, "seed": rep})
                shown.append({"layer": int(layer), "method": method, "k": int(k), "cluster_id": int(cluster_id), "repetition": rep,
                              "size": len(ids), "shown_sentence_ids": [*ids[central], *ids[chosen]],
                              "keywords": keywords[cluster_id]})
    return requests, shown


@table_step(deps=reads(ASSIGNMENTS, SENTENCES, TRACES, VECTORS, MEANS), layer=MODEL,
            kinds={"duckdb", LLM_KIND}, pool=model_pool("namer"))
def cluster_titles(context: dg.AssetExecutionContext, config: TitlesConfig, llm: LLM,
                   warehouse: Warehouse) -> Written:
    """Title and description of each cluster, `repetitions` times, by role namer."""
    assignments = warehouse.query(ASSIGNMENTS)
    sentences = warehouse.query(SENTENCES).set_index("sentence_id")
    traces = warehouse.query(TRACES).set_index("trace_id").full_response
    vectors = {}
    for layer, of_layer in warehouse.query(VECTORS).groupby("layer"):
        vectors.update({(layer, i): v for i, v in zip(*vectors_of(of_layer))})
    requests, shown = naming_requests(config, assignments, sentences, vectors, traces)
    client = llm.client("namer", context)
    results = batch.run(client, requests, llm.batches_folder, config.batches,
                        tag=batch_tag(warehouse) if config.batches else "",
                        progress=Progress(context, "namer", len(requests)).step)
    rows = [{**s, "title": r.value["title"].strip() if r.ok else None,
             "description": r.value["description"].strip() if r.ok else None,
             "error": r.error, "raw": None if r.ok else r.raw} for s, r in zip(shown, results)]
    frame = pd.DataFrame(rows)
    for _, clustering in frame.groupby(["layer", "method", "k", "repetition"]):  # a repeated title names nothing within one
        names, named_by = shown_names(clustering.title.tolist(), clustering.keywords.tolist())
        frame.loc[clustering.index, "name"], frame.loc[clustering.index, "named_by"] = names, named_by
    return one(frame, {"namer_calls": len(requests),
                       "unparsed": int(frame.error.notna().sum()),
                       "named_by_keywords": int((frame.named_by == "keywords").sum())})
