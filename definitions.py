"""The Dagster code location: Python assets, SQL models and checks, resources and jobs."""

from __future__ import annotations

import dagster as dg

import assets
from assets.contracts import contract_checks, with_contracts
from assets.core.llm_calls import LLM_KIND, build_llm_calls
from assets.lineage import check_python_reads
from assets.sql_models import SqlModelError, load_sql_checks, load_sql_models
from resources import build_resources
from resources.settings import load_settings

load_settings()  # a bad settings file fails here, naming the key and the allowed values

python_assets = list(dg.load_assets_from_package_module(assets))
llm_assets = [a for a in python_assets if any(LLM_KIND in spec.kinds for spec in a.specs)]
python_assets.append(build_llm_calls([k for a in llm_assets for k in a.keys]))
sql_assets = load_sql_models()


def _check_sql_reads() -> None:
    """A SQL model or check that reads a table no asset produces is a typo: say which file."""
    produced = {k for a in [*python_assets, *sql_assets] for k in a.keys}
    for a in sql_assets:
        for dep in a.dependency_keys:
            if dep not in produced:
                raise SqlModelError(f"{a.metadata_by_key[a.key]['sql_file']}: reads "
                                    f"{'.'.join(dep.path)}, which no asset produces")


_check_sql_reads()
check_python_reads(python_assets)  # every table a Python asset's queries read is one of its deps

# every table's description, grain and column schema from its contract (sql/<schema>/schema.yml),
# and its `contract` check
all_assets = with_contracts([*python_assets, *sql_assets])
defs = dg.Definitions(
    assets=all_assets,
    asset_checks=[*load_sql_checks(), *contract_checks({k for a in all_assets for k in a.keys})],
    resources=build_resources(),
    jobs=[dg.define_asset_job("everything", selection=dg.AssetSelection.all())],
    # A step process forked from a server that has already imported this module starts in a
    # fraction of a second; a spawned one re-imports dagster, pandas and every asset (about 7 s
    # on 2 cores), and those imports steal the cores from a llama.cpp step running beside it.
    executor=dg.multiprocess_executor.configured(
        {"start_method": {"forkserver": {"preload_modules": [__name__]}}}),
)
