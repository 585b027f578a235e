"""Partitioned LLM stages: `[warehouse] partitions = N` splits each stage that calls a model per
row into N static partitions, hash buckets of the row's id.

A partition reads only its rows, and writes them in one transaction (delete its old rows, insert
the new) tagged in column `partition_key`; the other partitions' rows stay. So a backfill runs
the N partitions in parallel through Dagster's executor, a failed partition is retried alone, and
the SQL models downstream read every partition's rows from the one table. N = 0 (the default)
keeps a stage one unpartitioned step.

The bucket is CRC-32 of the id's text, stable across processes, machines and versions (Python's
`hash` is salted per process).
"""

from __future__ import annotations

import zlib

import dagster as dg
import pandas as pd

from resources.settings import load_settings

PARTITION_COLUMN = "partition_key"


def bucket_names(n: int) -> list[str]:
    return [f"{i:0{len(str(n - 1))}d}" for i in range(n)]


def bucket_of(row_id, n: int) -> str:
    return bucket_names(n)[zlib.crc32(str(row_id).encode()) % n]


def llm_stage_partitions() -> dg.StaticPartitionsDefinition | None:
    """The partitions of every LLM-per-row stage, from the settings; None = unpartitioned."""
    n = load_settings().warehouse.partitions
    return dg.StaticPartitionsDefinition(bucket_names(n)) if n else None


def rows_of_partition(context: dg.AssetExecutionContext, rows: pd.DataFrame, id_columns: list[str]) -> pd.DataFrame:
    """The rows this run's partition owns (all of them when the stage is unpartitioned)."""
    if not context.has_partition_key:
        return rows
    n = len(context.assets_def.partitions_def.get_partition_keys())
    ids = rows[id_columns].astype(str).agg("|".join, axis=1) if len(id_columns) > 1 else rows[id_columns[0]]
    return rows[ids.map(lambda i: bucket_of(i, n)) == context.partition_key].reset_index(drop=True)


def partition_tag(context: dg.AssetExecutionContext) -> str:
    """A partition's own Batch API file name part (partitions must not share one file)."""
    return f"part{context.partition_key}" if context.has_partition_key else ""
