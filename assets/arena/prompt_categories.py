"""`arena.prompt_categories`: what the prompts are about, at two levels.

Prompts are embedded, clustered (HDBSCAN; outliers go to the nearest cluster, so no prompt is
left without a category) into narrower categories, which are grouped into broad ones. Each
category gets its c-TF-IDF keywords (`*_keywords`), and the role `namer` names both levels from
the keywords and example prompts; where its name names nothing, the keywords are the name
(`*_named_by`).
"""

import dagster as dg
import numpy as np
import pandas as pd

from analysis.clustering import density_pipeline
from analysis.keywords import cluster_keywords, shown_names
from assets.arena import prompts
from assets.arena.config import CategoriesConfig
from assets.core.llm_calls import LLM_KIND
from assets.core.pools import model_pool
from assets.core.tables import Written, one, table_step
from assets.lineage import MODEL, Query, reads
from assets.progress import Progress
from resources.embeddings import Embeddings
from resources.llm import LLM, RoleClient
from resources.warehouse import Warehouse

PROMPTS = Query("SELECT battle_id, prompt FROM arena.battles ORDER BY battle_id")
EXAMPLES = 6


def name(client: RoleClient, texts: list[str], keywords: list[str]) -> str | None:
    shown = "\n".join(f"- {t[:200]}" for t in texts)
    message = prompts.CATEGORY_LABEL.format(members=shown, keywords=", ".join(keywords) or "(none)")
    out = client.chat_json([{"role": "user", "content": message}], prompts.NAME_SCHEMA, max_tokens=32)
    return out.value["name"].strip() if out.ok else None


def named(client: RoleClient, examples: dict, keywords: dict, fallback: str, progress=None) -> pd.DataFrame:
    """name, named_by, keywords per category id (the keywords where the namer's name names nothing)."""
    ids = sorted(examples)
    names = []
    for k in ids:
        names.append(name(client, examples[k], keywords[k]))
        if progress is not None:
            progress()
    shown, named_by = shown_names(names, [keywords[k] for k in ids])
    return pd.DataFrame({"name": [s or f"{fallback} {k}" for s, k in zip(shown, ids)], "named_by": named_by,
                         "keywords": [keywords[k] for k in ids]}, index=ids)


@table_step(deps=reads(PROMPTS), layer=MODEL, kinds={"duckdb", LLM_KIND}, pool=model_pool(local=True))
def prompt_categories(context: dg.AssetExecutionContext, config: CategoriesConfig, embeddings: Embeddings,
                      llm: LLM, warehouse: Warehouse) -> Written:
    """broad_category_id, broad_category, narrower_category_id, narrower_category per battle."""
    battles = warehouse.query(PROMPTS)
    vectors = embeddings.encode(battles.prompt.str.slice(0, 2000).tolist())
    pipeline = density_pipeline(config.min_cluster_size, enable_dim_reduction=len(battles) >= 50)
    result = pipeline.fit(vectors)
    for warning in result.warnings:
        context.log.warning(warning)
    namer = llm.client("namer", context)
    broad_ids = np.array([result.coarse[k] for k in result.labels])
    progress = Progress(context, "namer (categories)", len(set(result.labels)) + len(set(broad_ids))).step
    narrower = named(namer, {k: battles.prompt[result.labels == k].head(EXAMPLES).tolist()
                             for k in sorted(set(result.labels))},
                     cluster_keywords(battles.prompt, result.labels), "Category", progress)
    broad = named(namer, {g: narrower["name"][sorted({k for k, v in result.coarse.items() if v == g})].tolist()
                          + battles.prompt[broad_ids == g].head(3).tolist() for g in sorted(set(broad_ids))},
                  cluster_keywords(battles.prompt, broad_ids), "Group", progress)
    at_narrower, at_broad = narrower.loc[result.labels], broad.loc[broad_ids]
    frame = pd.DataFrame({
        "battle_id": battles.battle_id,
        "broad_category_id": broad_ids,
        "broad_category": at_broad["name"].to_numpy(),
        "broad_named_by": at_broad.named_by.to_numpy(),
        "broad_keywords": at_broad.keywords.to_numpy(),
        "narrower_category_id": result.labels,
        "narrower_category": at_narrower["name"].to_numpy(),
        "narrower_named_by": at_narrower.named_by.to_numpy(),
        "narrower_keywords": at_narrower.keywords.to_numpy(),
        "was_outlier": result.was_outlier,
    })
    return one(frame, {"narrower": len(narrower),
                       "broad": len(broad), "min_cluster_size": pipeline.cluster.size_})
