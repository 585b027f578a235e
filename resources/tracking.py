"""Each materialization to Weights & Biases (`[tracking] wandb = true`) and to MLflow (`mlflow =
true`). W&B: a W&B run per
Dagster run (the W&B run's id is the Dagster run's), to which each step logs its run config, each
table's row count and metadata, and the headline tables (those whose contract says
`headline: true`: ratings, metrics, scores, estimates) as W&B tables. Off by default, and then
nothing is imported. Under the multiprocess executor each step resumes the run from its own
process; offline (`mode = "offline"`, or WANDB_MODE) each step's part is a folder under
<reports>/wandb/ that `wandb sync` uploads. MLflow: a run per Dagster run in experiment `project`
at `mlflow_tracking_uri` ("" = a SQLite store <reports>/mlflow.db, artifacts in <reports>/mlruns:
`mlflow ui --backend-store-uri sqlite:///reports/mlflow.db`)."""

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


def _logged(context, warehouse, tables: dict[str, int], metadata: dict[str, dict]):
    """(values: each table's row count and scalar metadata, by "<table>/<key>"; the headline tables
    as frames) that every tracker logs."""
    settings, contracts = warehouse.settings.tracking, load_contracts()
    values, headline = {}, {}
    for table, rows in tables.items():
        values[f"{table}/rows"] = rows
        for key, value in (metadata.get(table) or {}).items():
            value = getattr(value, "value", value)  # a dg.MetadataValue
            if isinstance(value, (bool, numbers.Number, str)) and not key.startswith("dagster/"):
                values[f"{table}/{key}"] = value.item() if isinstance(value, np.generic) else value
        contract = contracts.get(table)
        if contract is not None and contract.headline:
            headline[table] = warehouse.arrow(f"SELECT * FROM {table} LIMIT {settings.max_table_rows}").to_pandas()
    return values, headline


def _to_wandb(context, settings, folder, values: dict, headline: dict) -> None:
    import wandb

    run = wandb.init(project=settings.project, entity=settings.entity or None, mode=settings.mode or None,
                     id=context.run_id, resume="allow", name=f"dagster {context.run_id[:8]}", dir=str(folder),
                     config={context.op_def.name: dict(context.op_config or {})}, reinit="create_new")
    try:
        for table, frame in headline.items():
            values[table] = wandb.Table(columns=[str(c) for c in frame.columns],
                                        data=[[_cell(v) for v in row] for row in frame.itertuples(index=False)])
        run.log(values)
    finally:
        run.finish()


def _to_mlflow(context, settings, folder, values: dict, headline: dict) -> None:
    """An MLflow run per Dagster run (tag `dagster_run_id`), found or made under a file lock, since
    a run's steps may log from several processes: numbers as metrics, text as tags, the step's run
    config as parameters `<step>.<key>`, headline tables as table artifacts `<table>.json`."""
    import time

    from filelock import FileLock
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    uri = settings.mlflow_tracking_uri or f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri)
    with FileLock(str(folder / "mlflow.lock")):
        experiment = client.get_experiment_by_name(settings.project)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(
            settings.project, artifact_location=None if settings.mlflow_tracking_uri else (folder / "mlruns").as_uri())
        found = client.search_runs([experiment_id], f"tags.dagster_run_id = '{context.run_id}'", max_results=1)
        run_id = found[0].info.run_id if found else client.create_run(
            experiment_id, run_name=f"dagster {context.run_id[:8]}", tags={"dagster_run_id": context.run_id}).info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, 0) for k, v in values.items() if not isinstance(v, str)]
    tags = [RunTag(k, v[:5000]) for k, v in values.items() if isinstance(v, str)]
    params = [Param(f"{context.op_def.name}.{k}", str(v)[:6000]) for k, v in dict(context.op_config or {}).items()]
    client.log_batch(run_id, metrics=metrics, params=params, tags=tags)
    for table, frame in headline.items():
        client.log_table(run_id, data=frame.map(_cell), artifact_file=f"{table}.json")


def track(context, warehouse, tables: dict[str, int], metadata: dict[str, dict]) -> None:
    """Log a step's tables (name -> rows written) and their materialization metadata to each tracker on."""
    settings = warehouse.settings.tracking
    if not (settings.wandb or settings.mlflow):
        return
    folder = warehouse.settings.path("reports")
    folder.mkdir(parents=True, exist_ok=True)
    values, headline = _logged(context, warehouse, tables, metadata)
    if settings.wandb:
        _to_wandb(context, settings, folder, dict(values), headline)
    if settings.mlflow:
        _to_mlflow(context, settings, folder, dict(values), headline)
