"""`core.llm_calls`: every LLM call (cache hits too), copied from the call log into the warehouse."""

from typing import Sequence

import dagster as dg

from assets.core.tables import Written, one, table_step
from assets.lineage import INPUT
from resources.llm import LLM
from resources.warehouse import Warehouse

LLM_KIND = "llm"  # assets that call the LLM resource declare this kind; llm_calls runs after them


def build_llm_calls(upstream: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @table_step(deps=list(upstream), layer=INPUT)  # the call log (an SQLite file beside the warehouse) is its source
    def llm_calls(context: dg.AssetExecutionContext, llm: LLM, warehouse: Warehouse) -> Written:
        """One row per LLM call, cache hits too."""
        calls = llm.cache.calls()
        return one(calls, {"cache_hits": int(calls["cached"].sum()), "errors": int(calls["error"].notna().sum())})

    return llm_calls
