"""Ingest logged data, fresh draws and oracle probes into cje.* tables, from cje-eval's JSONL files
(`source: files`, the default) or from the logs built by the `cje_logs` pipeline (`source:
cje_logs`, read through the staging model `cje_logs.logged_rows`, so one materialization of both
groups is one graph). Both become the same records, checked by the same field rules
(inputs.py, input_rules.sql).

Tables: cje.policies, cje.prompts, cje.responses, cje.teacher_forced_logprobs, cje.judge_scores,
cje.oracle_labels. Oracle labels of logged rows beyond `oracle_fraction` are masked from
calibration (seeded, stratified by judge score) and kept as split 'validation'.
"""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.model_selection import train_test_split

from analysis.cje_records import draw_record, logged_record, probe_rows
from assets.cje.config import SOURCES, LoggedDataConfig
from assets.cje.inputs import Records, draw_files
from assets.lineage import INPUT, Query, reads
from assets.core.tables import Written, table_step
from resources.datasets import DatasetError, named_input, sample_path
from resources.warehouse import Warehouse

BASE = "base"
FRESH_SUFFIX, PROBE_SUFFIX = "_responses.jsonl", "_probe.jsonl"
BUILT_ROWS = Query("SELECT * FROM cje_logs.logged_rows")
BUILT_IDENTICAL = Query("SELECT policy FROM cje_logs.identical_policies")


def choose_calibration_labels(judge: np.ndarray, n_rows: int, fraction: float, seed: int) -> np.ndarray:
    """Indices (into the labelled rows) whose labels calibration may use: round(fraction * n_rows)
    of them, stratified by judge-score quantile, seeded. All of them when fewer are available."""
    keep = int(round(fraction * n_rows))
    if keep >= len(judge):
        return np.arange(len(judge))
    if keep < 2:
        raise DatasetError(f"oracle_fraction {fraction} of {n_rows} logged rows leaves {keep} "
                           "oracle label(s); calibration needs at least as many as its folds")
    for bins in (5, 4, 3, 2):
        strata = pd.qcut(judge, q=bins, labels=False, duplicates="drop")
        try:
            chosen, _ = train_test_split(np.arange(len(judge)), train_size=keep,
                                         stratify=strata, random_state=seed)
            return np.sort(chosen)
        except ValueError:  # a stratum too small to split: use coarser ones
            continue
    return np.sort(np.random.default_rng(seed).choice(len(judge), size=keep, replace=False))



@dataclass
class FilePaths:
    logged_data: str
    fresh_draws_dir: str
    probe_dir: str


def file_paths(config: LoggedDataConfig) -> FilePaths:
    """The files a `source: files` run reads: only those named (`sample:` ones resolved)."""
    logged = named_input(config.logged_data, "cje__logged_data.logged_data", "vibescope cje LOGGED")
    return FilePaths(sample_path(logged), sample_path(config.fresh_draws_dir), sample_path(config.probe_dir))


def read_files(config: LoggedDataConfig) -> dict[str, pa.Table]:
    """The input tables from cje-eval's files (only those the config names)."""
    paths = file_paths(config)
    records = Records.from_files(Path(paths.logged_data), draw_files(paths.fresh_draws_dir, FRESH_SUFFIX),
                                 draw_files(paths.probe_dir, PROBE_SUFFIX))
    return input_tables(records, config, config.identical_policies)


def read_built_logs(rows: pd.DataFrame, identical: list[str], config: LoggedDataConfig) -> dict[str, pa.Table]:
    """The input tables from the rows of the built logs (BUILT_ROWS), as the records the exported
    files hold, each named by its table row."""
    if rows.empty:
        raise DatasetError(f"{BUILT_ROWS.table} is empty: materialize the cje_logs group first")

    def located(frame: pd.DataFrame, record) -> list[tuple[str, dict]]:
        return [(f"{BUILT_ROWS.table} (prompt_id {r.prompt_id}, policy {r.built_policy})", record(r))
                for r in frame.itertuples()]

    targets = rows[~rows.is_base]
    records = Records.from_rows(BUILT_ROWS.table, located(rows[rows.is_base], logged_record),
                                {p: located(g, draw_record) for p, g in targets.groupby("policy")},
                                {p: located(g, draw_record) for p, g in probe_rows(rows).groupby("policy")})
    return input_tables(records, config, identical)


def policies_table(targets: list[str], identical: list[str] | None, where: str) -> pd.DataFrame:
    """`cje.policies`: the base and each target; `identical` declared by the user, or None: a
    policy named "clone" (the source tool's name for the base's twin), if there is one."""
    if identical is None:
        identical = [t for t in targets if t == "clone"]
    unknown = [p for p in identical if p not in targets]
    if unknown:
        raise DatasetError(f"identical_policies names {unknown}, which {where} has no log-probs for; "
                           f"its target policies: {', '.join(targets)}")
    return pd.DataFrame({"policy": [BASE, *targets], "is_base": [True] + [False] * len(targets),
                         "declared_identical": [False] + [t in identical for t in targets]})


def input_tables(records: Records, config: LoggedDataConfig, identical: list[str] | None) -> dict[str, pa.Table]:
    """The cje.* input tables from records that pass the field rules (input_rules.sql)."""
    try:
        records.check()
        policies = policies_table(records.targets, identical, records.where)
        judge = records.labelled_judge_scores()
        if not len(judge):
            raise DatasetError(f"{records.where}: no row has an oracle_label; calibration needs some")
        chosen = choose_calibration_labels(judge, records.n_logged, config.oracle_fraction, config.seed)
        return {"policies": pa.Table.from_pandas(policies, preserve_index=False), **records.tables(chosen)}
    finally:
        records.con.close()


@table_step(deps=reads(BUILT_ROWS, BUILT_IDENTICAL), layer=INPUT)
def logged_data(context: dg.AssetExecutionContext, config: LoggedDataConfig, warehouse: Warehouse) -> Written:
    """The cje.* input tables from cje-eval files or from the built logs (see the module docstring)."""
    if config.source not in SOURCES:
        raise DatasetError(f"source {config.source!r}; valid: {', '.join(SOURCES)}")
    if config.source == "cje_logs" and not warehouse.table_exists(BUILT_ROWS.table):
        raise DatasetError(f"source cje_logs: there are no built logs ({BUILT_ROWS.table}); materialize the "
                           "cje_logs group first, or `vibescope cje build`")
    if not 0 < config.oracle_fraction <= 1:
        raise DatasetError(f"oracle_fraction must be in (0, 1], got {config.oracle_fraction}")
    tables = (read_files(config) if config.source == "files" else read_built_logs(
        warehouse.query(BUILT_ROWS), warehouse.query(BUILT_IDENTICAL).policy.tolist(), config))
    splits = pc.value_counts(tables["oracle_labels"]["split"]).to_pylist()
    return Written(tables, {"oracle_labels": {
        **{f"labels_{c['values']}": c["counts"] for c in splits},
        "oracle_fraction": config.oracle_fraction, "seed": config.seed}})
