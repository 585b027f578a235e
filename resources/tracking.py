"""Each materialization to Weights & Biases, where `[tracking] wandb = true`: a W&B run per
Dagster run (the W&B run's id is the Dagster run's), to which each step logs its run config, each
table's row count and metadata, and the headline tables (those whose contract says
`headline: true`: ratings, metrics, scores, estimates) as W&B tables. Off by default, and then
nothing is imported. Under the multiprocess executor each step resumes the run from its own
process; offline (`mode = "offline"`, or WANDB_MODE) each step's part is a folder under
<reports>/wandb/ that `wandb sync` uploads."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from resources.contracts import load_contracts


def _cell(value):
    """A value W&B's table takes: numbers, text, booleans and nulls as they are, anything else as text."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (bool, numbers.Number, str)):
        return value.item() if isinstance(value, np.generic) else value
    return str(list(value)) if isinstance(value, np.ndarray) else str(value)


def track(context, warehouse, tables: dict[str, int], metadata: dict[str, dict]) -> None:
    """Log a step's tables (name -> rows written) and their materialization metadata."""
    settings = warehouse.settings.tracking
    if not settings.wandb:
        return
    import wandb

    contracts = load_contracts()
    folder = warehouse.settings.path("reports")
    folder.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=settings.project, entity=settings.entity or None, mode=settings.mode or None,
                     id=context.run_id, resume="allow", name=f"dagster {context.run_id[:8]}", dir=str(folder),
                     config={context.op_def.name: dict(context.op_config or {})}, reinit="create_new")
    try:
        values = {}
        for table, rows in tables.items():
            values[f"{table}/rows"] = rows
            for key, value in (metadata.get(table) or {}).items():
                value = getattr(value, "value", value)  # a dg.MetadataValue
                if isinstance(value, (bool, numbers.Number, str)) and not key.startswith("dagster/"):
                    values[f"{table}/{key}"] = value.item() if isinstance(value, np.generic) else value
            contract = contracts.get(table)
            if contract is not None and contract.headline:
                frame = warehouse.arrow(f"SELECT * FROM {table} LIMIT {settings.max_table_rows}").to_pandas()
                values[table] = wandb.Table(columns=[str(c) for c in frame.columns],
                                            data=[[_cell(v) for v in row] for row in frame.itertuples(index=False)])
        run.log(values)
    finally:
        run.finish()
