"""Ingest logged data, fresh draws and oracle probes into cje.* tables, from cje-eval's JSONL files
(`source: files`, the default) or from the logs built by the `cje_logs` pipeline (`source:
cje_logs`, read through the staging model `cje_logs.logged_rows`, so one materialization of both
groups is one graph). Both sources become the same records, checked the same way.

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

from assets.cje.clean_files import draw_files, stage
from assets.cje.fields import (
    KEY, SCHEMAS, Rows, draw_tables, judge_score, logprob, oracle_label, prompt_id, read_jsonl, target_logprobs, text,
    token_logprobs,
)
from analysis.cje_records import draw_record, logged_record, probe_rows
from assets.cje.config import SOURCES, LoggedDataConfig
from assets.lineage import INPUT, Query, reads
from assets.core.tables import Written, table_step
from resources.datasets import DatasetError, named_input, sample_path
from resources.warehouse import Warehouse

BASE = "base"
REQUIRED = ("prompt", "response", "base_policy_logprob", "judge_score")
FRESH_SUFFIX, PROBE_SUFFIX = "_responses.jsonl", "_probe.jsonl"
BUILT_ROWS = Query("SELECT * FROM cje_logs.logged_rows")
BUILT_IDENTICAL = Query("SELECT policy FROM cje_logs.identical_policies")


@dataclass
class Sources:
    """Logged rows, fresh draws and probes per policy as cje-eval's records, each with where it is."""
    where: str
    logged: Rows
    fresh: dict[str, Rows]
    probes: dict[str, Rows]
    identical: list[str] | None  # None: a policy named "clone", if any


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


def _draws(directory: str, suffix: str, required: tuple[str, ...]) -> dict[str, Rows]:
    return {policy: read_jsonl(path, required) for policy, path in draw_files(directory, suffix).items()}


def from_files(config: LoggedDataConfig) -> Sources:
    paths = file_paths(config)
    return Sources(where=paths.logged_data, logged=read_jsonl(Path(paths.logged_data), REQUIRED),
                   fresh=_draws(paths.fresh_draws_dir, FRESH_SUFFIX, ("prompt_id", "judge_score")),
                   probes=_draws(paths.probe_dir, PROBE_SUFFIX, ("prompt_id", "oracle_label")),
                   identical=config.identical_policies)


@dataclass
class FilePaths:
    logged_data: str
    fresh_draws_dir: str
    probe_dir: str


def file_paths(config: LoggedDataConfig) -> FilePaths:
    """The files a `source: files` run reads: only those named (`sample:` ones resolved)."""
    logged = named_input(config.logged_data, "cje__logged_data.logged_data", "vibescope cje LOGGED")
    return FilePaths(sample_path(logged), sample_path(config.fresh_draws_dir), sample_path(config.probe_dir))


def from_clean_files(config: LoggedDataConfig) -> dict[str, pa.Table] | None:
    """The tables straight from DuckDB where every row of the files is clean (clean_files.py), else None."""
    paths = file_paths(config)
    staged = stage(Path(paths.logged_data), draw_files(paths.fresh_draws_dir, FRESH_SUFFIX),
                   draw_files(paths.probe_dir, PROBE_SUFFIX))
    if staged is None:
        return None
    policies = policies_table(staged.targets, config.identical_policies, paths.logged_data)
    judge = staged.labelled_judge_scores()
    if not len(judge):
        raise DatasetError(f"{paths.logged_data}: no row has an oracle_label; calibration needs some")
    chosen = choose_calibration_labels(judge, staged.n_logged, config.oracle_fraction, config.seed)
    try:
        return {"policies": pa.Table.from_pandas(policies, preserve_index=False), **staged.tables(chosen)}
    finally:
        staged.con.close()


def read_files(config: LoggedDataConfig) -> dict[str, pa.Table]:
    """The input tables from cje-eval's files: read whole by DuckDB where every row is clean, else
    by the row-by-row rules, which name a bad row's file and line."""
    tables = from_clean_files(config)
    return tables if tables is not None else build_tables(from_files(config), config)


def from_built_logs(rows: pd.DataFrame, identical: list[str]) -> Sources:
    """The rows of the built logs (BUILT_ROWS) as the records the exported files hold."""
    if rows.empty:
        raise DatasetError(f"{BUILT_ROWS.table} is empty: materialize the cje_logs group first")
    def located(frame: pd.DataFrame, record) -> Rows:
        return [(f"{BUILT_ROWS.table} (prompt_id {r.prompt_id}, policy {r.built_policy})", record(r))
                for r in frame.itertuples()]

    targets = rows[~rows.is_base]
    return Sources(where=BUILT_ROWS.table, logged=located(rows[rows.is_base], logged_record),
                   fresh={p: located(g, draw_record) for p, g in targets.groupby("policy")},
                   probes={p: located(g, draw_record) for p, g in probe_rows(rows).groupby("policy")},
                   identical=identical)


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


def build_tables(sources: Sources, config: LoggedDataConfig) -> dict[str, pa.Table]:
    """The tables from records, each checked by the row-by-row rules of fields.py."""
    path, logged, fresh, probes = sources.where, sources.logged, sources.fresh, sources.probes
    ids = [prompt_id(r, where) for where, r in logged]
    dupes = pd.Series(ids)[pd.Series(ids).duplicated()].unique()
    if len(dupes):
        raise DatasetError(f"{path}: duplicate prompt_id(s) {', '.join(map(str, dupes[:5]))}"
                           f"{' ...' if len(dupes) > 5 else ''}: each logged prompt must appear once")
    targets = sorted({p for where, r in logged for p in target_logprobs(r, where)})
    policies = policies_table(targets, sources.identical, path)
    prompts = {pid: text(r, "prompt", where) for pid, (where, r) in zip(ids, logged)}
    responses, judge, oracle, logprobs = [], [], [], []
    labelled: list[tuple[list, float]] = []  # (oracle row, judge score) of logged rows
    for pid, (where, r) in zip(ids, logged):
        score, label = judge_score(r, where), oracle_label(r, where)
        targets_of_row = target_logprobs(r, where)
        responses.append((pid, BASE, "logged", 0, text(r, "response", where), token_logprobs(r, where)))
        judge.append((pid, BASE, "logged", 0, score))
        logprobs.append((pid, BASE, logprob(r["base_policy_logprob"], "base_policy_logprob", where)))
        for t in targets:
            logprobs.append((pid, t, logprob(targets_of_row.get(t), f"target_policy_logprobs.{t}", where)))
        if label is not None:
            row = [pid, BASE, "logged", 0, label, "validation"]
            oracle.append(row)
            labelled.append((row, score))
    if not labelled:
        raise DatasetError(f"{path}: no row has an oracle_label; calibration needs some")
    for i in choose_calibration_labels(np.array([j for _, j in labelled]), len(logged),
                                       config.oracle_fraction, config.seed):
        labelled[i][0][5] = "calibration"
    tables = {"responses": [pd.DataFrame(responses, columns=[*KEY, "response", "token_logprobs"])],
              "judge_scores": [pd.DataFrame(judge, columns=[*KEY, "judge_score"])],
              "oracle_labels": [pd.DataFrame(oracle, columns=[*KEY, "oracle_label", "split"])]}
    for source, by_policy in (("fresh", fresh), ("probe", probes)):
        for policy, rows in by_policy.items():
            for name, frame in draw_tables(policy, source, rows, prompts).items():
                tables[name].append(frame)
    frames = {"prompts": pd.DataFrame(list(prompts.items()), columns=["prompt_id", "prompt"]),
              "teacher_forced_logprobs": pd.DataFrame(logprobs, columns=["prompt_id", "policy", "logprob"]),
              **{name: pd.concat(parts, ignore_index=True) for name, parts in tables.items()}}
    return {"policies": pa.Table.from_pandas(policies, preserve_index=False),
            **{name: pa.Table.from_pandas(frame, schema=SCHEMAS[name], preserve_index=False)
               for name, frame in frames.items()}}


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
    tables = (read_files(config) if config.source == "files" else build_tables(
        from_built_logs(warehouse.query(BUILT_ROWS), warehouse.query(BUILT_IDENTICAL).policy.tolist()), config))
    splits = pc.value_counts(tables["oracle_labels"]["split"]).to_pylist()
    return Written(tables, {"oracle_labels": {
        **{f"labels_{c['values']}": c["counts"] for c in splits},
        "oracle_fraction": config.oracle_fraction, "seed": config.seed}})
