"""Materialize a test asset, or the project's assets, in this process with the real resources:
used as a subprocess (settings from $VIBESCOPE_SETTINGS, as every resource reads them).

    python -m tests.helpers.materialize <asset_name> '<json op config>'
    python -m tests.helpers.materialize project '<json: {"upstream_of": [asset keys], "run_config": {...}}>'
"""

import json
import sys
import time

import dagster as dg
import pandas as pd

from resources import build_resources
from resources.llm import LLM
from resources.warehouse import Warehouse


class WriterConfig(dg.Config):
    rounds: int = 20
    rows: int = 200_000


@dg.asset(key=["test", "numbers"])
def numbers(config: WriterConfig, warehouse: Warehouse) -> None:
    """Replaces test.numbers again and again; every version has round * 1000 + rows rows."""
    for r in range(config.rounds):
        n = config.rows + r * 1000
        started = time.perf_counter()
        warehouse.write_table("test.numbers", pd.DataFrame({"i": range(n), "version": r}))
        print(f"wrote round {r} in {time.perf_counter() - started:.3f} s", flush=True)


class LLMRowsConfig(dg.Config):
    n: int = 12
    max_tokens: int = 48


@dg.asset(key=["test", "llm_rows"], kinds={"llm"})
def llm_rows(context: dg.AssetExecutionContext, config: LLMRowsConfig, llm: LLM,
             warehouse: Warehouse) -> None:
    """One short story opening per number; written once, at the end."""
    client = llm.client("describer", context)
    rows = []
    for i in range(config.n):
        reply = client.chat([{"role": "user", "content": f"Write one sentence about the number {i}."}],
                            max_tokens=config.max_tokens)
        rows.append({"i": i, "text": reply.text})
        print(f"call {i} cached={reply.cached}", flush=True)
    warehouse.write_table("test.llm_rows", pd.DataFrame(rows))


ASSETS = {"numbers": numbers, "llm_rows": llm_rows}



def project(upstream_of: list[str], run_config: dict) -> dg.ExecuteInProcessResult:
    """The project's assets that `upstream_of` need, and their checks, as one run."""
    import definitions

    keys = [dg.AssetKey.from_user_string(k) for k in upstream_of]
    selection = dg.AssetSelection.assets(*keys).upstream().required_multi_asset_neighbors()
    return dg.materialize([*definitions.defs.assets, *definitions.defs.asset_checks], resources=build_resources(),
                          selection=selection, run_config=run_config)


if __name__ == "__main__":
    name, config = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    if name == "project":
        result = project(config["upstream_of"], config.get("run_config", {}))
    else:
        result = dg.materialize([ASSETS[name]], resources=build_resources(),
                                run_config={"ops": {f"test__{name}": {"config": config}}})
    sys.exit(0 if result.success else 1)
