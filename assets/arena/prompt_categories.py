"""`arena.prompt_categories`: what the prompts are about, at two levels.

Prompts are embedded, clustered (HDBSCAN; outliers go to the nearest cluster, so no prompt is
left without a category) into narrower categories, which are grouped into broad ones; the role
`namer` names both levels from example prompts.
"""

import dagster as dg
import numpy as np
import pandas as pd

from analysis.clustering import density_pipeline
from assets.arena import prompts
from assets.arena.config import CategoriesConfig
from assets.core.llm_calls import LLM_KIND
from assets.core.pools import model_pool
from assets.lineage import MODEL, Query, reads
from resources.embeddings import Embeddings
from resources.llm import LLM, RoleClient
from resources.warehouse import Warehouse

PROMPTS = Query("SELECT battle_id, prompt FROM arena.battles ORDER BY battle_id")
EXAMPLES = 6


def name(client: RoleClient, texts: list[str], fallback: str) -> str:
    shown = "\n".join(f"- {t[:200]}" for t in texts)
    out = client.chat_json([{"role": "user", "content": prompts.CATEGORY_LABEL.format(members=shown)}],
                           prompts.NAME_SCHEMA, max_tokens=32)
    return out.value["name"].strip() if out.ok and out.value["name"].strip() else fallback


@dg.asset(key=["arena", "prompt_categories"], deps=reads(PROMPTS), group_name="arena", tags=MODEL,
          kinds={"duckdb", LLM_KIND}, pool=model_pool(local=True))
def prompt_categories(context: dg.AssetExecutionContext, config: CategoriesConfig, embeddings: Embeddings,
                      llm: LLM, warehouse: Warehouse) -> dg.MaterializeResult:
    """broad_category_id, broad_category, narrower_category_id, narrower_category per battle."""
    battles = warehouse.query(PROMPTS)
    vectors = embeddings.encode(battles.prompt.str.slice(0, 2000).tolist())
    pipeline = density_pipeline(config.min_cluster_size, enable_dim_reduction=len(battles) >= 50)
    result = pipeline.fit(vectors)
    for warning in result.warnings:
        context.log.warning(warning)
    namer = llm.client("namer", context)
    narrower, broad = {}, {}
    for k in sorted(set(result.labels)):
        members = battles.prompt[result.labels == k]
        narrower[k] = name(namer, members.head(EXAMPLES).tolist(), f"Category {k}")
    for g in sorted(set(result.coarse.values())):
        ks = [k for k, v in result.coarse.items() if v == g]
        shown = [narrower[k] for k in ks] + battles.prompt[np.isin(result.labels, ks)].head(3).tolist()
        broad[g] = name(namer, shown, f"Group {g}")
    frame = pd.DataFrame({
        "battle_id": battles.battle_id,
        "broad_category_id": [result.coarse[k] for k in result.labels],
        "broad_category": [broad[result.coarse[k]] for k in result.labels],
        "narrower_category_id": result.labels,
        "narrower_category": [narrower[k] for k in result.labels],
        "was_outlier": result.was_outlier,
    })
    n = warehouse.write_table("arena.prompt_categories", frame, context=context)
    return dg.MaterializeResult(metadata={"dagster/row_count": n, "narrower": len(narrower),
                                          "broad": len(broad), "min_cluster_size": pipeline.cluster.size_})
