"""`core.llm_calls`: every LLM call (cache hits too), copied from the call log into the warehouse."""

from typing import Sequence

import dagster as dg

from assets.lineage import INPUT
from resources.llm import LLM
from resources.warehouse import Warehouse

LLM_KIND = "llm"  # assets that call the LLM resource declare this kind; llm_calls runs after them


def build_llm_calls(upstream: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=["core", "llm_calls"],
        deps=list(upstream),
        group_name="core",
        kinds={"duckdb", "python"},
        tags=INPUT,  # the call log (an SQLite file beside the warehouse) is its source
        description="One row per LLM call: asset, role, backend, model, request hash, tokens, "
        "latency, estimated cost, whether the cache answered, truncation and error.",
    )
    def llm_calls(context: dg.AssetExecutionContext, llm: LLM, warehouse: Warehouse) -> dg.MaterializeResult:
        calls = llm.cache.calls()
        rows = warehouse.write_table("core.llm_calls", calls, context=context)
        return dg.MaterializeResult(metadata={
            "dagster/row_count": rows,
            "cache_hits": int(calls["cached"].sum()),
            "errors": int(calls["error"].notna().sum()),
        })

    return llm_calls
