"""`arena.property_clusters` and `arena.cluster_labels`: behaviours grouped fine and coarse.

Property descriptions are embedded, optionally reduced with UMAP (`enable_dim_reduction`),
clustered with HDBSCAN (`min_cluster_size`; 0 = chosen from the number of properties), outliers
assigned to the nearest cluster when `assign_outliers` (flagged), and fine clusters grouped into coarse ones (`hierarchical`). Every
cluster gets its c-TF-IDF keywords (analysis/keywords.py), and the role `namer` labels it
contrastively: it sees the keywords, members near the centroid and the nearest descriptions
outside the cluster. `name` is the namer's label where it names something, else the keywords
(`named_by` says which).
"""

import dagster as dg
import numpy as np
import pandas as pd

from analysis.clustering import density_pipeline
from analysis.keywords import cluster_keywords, shown_names
from assets.arena import prompts
from assets.arena.config import ClustersConfig
from assets.core.llm_calls import LLM_KIND
from assets.core.pools import model_pool
from assets.core.tables import Written, table_step
from assets.lineage import MODEL, Query, reads
from assets.progress import Progress
from resources.embeddings import Embeddings
from resources.llm import LLM, RoleClient
from resources.warehouse import Warehouse

PROPERTIES = Query("SELECT property_id, battle_id, model, property_description "
                   "FROM arena.behavior_properties ORDER BY property_id")
SHOWN, CONTRAST = 8, 5
ASSIGNED_COLUMNS = ["property_id", "battle_id", "model", "fine_cluster_id", "coarse_cluster_id", "was_outlier", "x", "y"]
LABEL_COLUMNS = ["level", "cluster_id", "parent_cluster_id", "size", "label", "description", "error", "keywords", "name",
                 "named_by"]


def label(client: RoleClient, texts: np.ndarray, vectors: np.ndarray, members: np.ndarray, keywords: list[str]) -> dict:
    centroid = vectors[members].mean(axis=0)
    sims = vectors @ centroid
    inside = np.where(members)[0][np.argsort(-sims[members])][:SHOWN]
    outside = np.where(~members)[0][np.argsort(-sims[~members])][:CONTRAST]
    unique = lambda idx: list(dict.fromkeys(texts[idx]))  # noqa: E731
    message = prompts.CLUSTER_LABEL.format(members="\n".join(f"- {t}" for t in unique(inside)),
                                           non_members="\n".join(f"- {t}" for t in unique(outside)) or "(none)",
                                           keywords=", ".join(keywords) or "(none)")
    out = client.chat_json([{"role": "user", "content": message}], prompts.LABEL_SCHEMA, max_tokens=96)
    if out.ok and out.value["label"].strip():
        return {"label": out.value["label"].strip(), "description": out.value["description"].strip(), "error": None}
    return {"label": None, "description": None, "error": out.error}


@table_step(deps=reads(PROPERTIES), layer=MODEL, kinds_of={"cluster_labels": {"duckdb", LLM_KIND}},
            pool=model_pool(local=True))
def property_clusters(context: dg.AssetExecutionContext, config: ClustersConfig, embeddings: Embeddings,
                      llm: LLM, warehouse: Warehouse) -> Written:
    """Each property's fine and coarse cluster and map position, and each cluster's name."""
    props = warehouse.query(PROPERTIES)
    if props.empty:  # describer_source none, or no output parsed: the rubric and the style view still run
        context.log.warning("no property to cluster: arena.behavior_properties is empty (describer_source none, "
                            "or no battle yielded a parseable property); the behaviour clusters are empty")
        empty = {"fine_cluster_id": "int64", "coarse_cluster_id": "int64", "was_outlier": bool, "x": float, "y": float,
                 "cluster_id": "int64", "parent_cluster_id": float, "size": "int64"}
        typed = lambda columns: pd.DataFrame(columns=columns).astype({c: empty.get(c, str) for c in columns})  # noqa: E731
        return Written({"property_clusters": typed(ASSIGNED_COLUMNS), "cluster_labels": typed(LABEL_COLUMNS)}, {})
    texts = props.property_description.to_numpy(object)
    vectors = embeddings.encode(texts.tolist())
    pipeline = density_pipeline(config.min_cluster_size, config.enable_dim_reduction, config.assign_outliers,
                                config.hierarchical, place=True, seed=config.seed)
    result = pipeline.fit(vectors)
    for warning in result.warnings:
        context.log.warning(warning)
    fine, xy = result.labels, result.xy
    coarse = np.array([result.coarse[k] for k in fine])
    assigned = pd.DataFrame(dict(zip(ASSIGNED_COLUMNS, [props.property_id, props.battle_id, props.model, fine, coarse,
                                                         result.was_outlier, xy[:, 0], xy[:, 1]])))
    namer = llm.client("namer", context)
    labels = []
    progress = Progress(context, "namer (behaviour clusters)", len(set(fine) - {-1}) + len(set(coarse) - {-1}))
    for level, ids in (("fine", fine), ("coarse", coarse)):
        keywords = cluster_keywords(texts, ids)
        named = []
        for k in sorted(set(ids)):
            members = ids == k
            parent = int(result.coarse[k]) if level == "fine" else None
            text = ({"label": "Outliers", "description": "Not in any cluster.", "error": None} if k == -1
                    else label(namer, texts, vectors, members, keywords[k]))
            if k != -1:
                progress.step()
            named.append({"level": level, "cluster_id": int(k), "parent_cluster_id": parent,
                          "size": int(members.sum()), **text, "keywords": keywords[k]})
        names, named_by = shown_names([n["label"] for n in named], [n["keywords"] for n in named])
        labels += [{**n, "name": name, "named_by": by} for n, name, by in zip(named, names, named_by)]
    labels = pd.DataFrame(labels)
    return Written({"property_clusters": assigned, "cluster_labels": labels}, {
        "property_clusters": {"fine_clusters": int(len(set(fine) - {-1})),
                              "coarse_clusters": int(len(set(coarse) - {-1})),
                              "outliers": int(result.was_outlier.sum()), "min_cluster_size": pipeline.cluster.size_},
        "cluster_labels": {"label_errors": int(labels.error.notna().sum()),
                           "named_by_keywords": int((labels.named_by == "keywords").sum())}})
