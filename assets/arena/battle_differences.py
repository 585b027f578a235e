"""`arena.battle_differences`: per battle, the describer's list of behaviours that tell A from B.

Model names are hidden from the describer (A and B only) and A/B keep the data's order. The
output is constrained to a JSON schema where the backend can; output that does not parse after
the retries is kept with its error (the battle then has no properties, and is counted).
`batches` writes an OpenAI Batch API file instead (data/batches/arena.battle_differences__describer__
<model>.jsonl); `vibescope batch submit` (or `run-locally`), `vibescope batch ingest`, and
materialize again: the answers then come from the cache, a failed line is its battle's error.
`describer_source: planted` uses the fictional dataset's ground truth instead of an LLM, `file` a
StringSight / LMM-Vibes properties file (`properties_path`; assets/arena/properties_file.py), `none`
no properties at all (the rubric scores a user's behaviours alone: `vibescope arena --behaviours F
--no-discovery`).
"""

import json

import dagster as dg
import pandas as pd

from assets.arena import prompts
from assets.arena.config import DifferencesConfig
from assets.arena.properties_file import read_properties
from assets.core.llm_calls import LLM_KIND
from assets.core.partitions import llm_stage_partitions, partition_tag, rows_of_partition
from assets.core.pools import model_pool
from assets.core.tables import Written, one, table_step
from assets.lineage import MODEL, Query, reads
from assets.progress import Progress
from resources.llm import LLM, batch
from resources.warehouse import Warehouse

BATTLES = Query("SELECT * FROM arena.battles ORDER BY battle_id")
MAX_CHARS = 3000  # per response, before the backend's own truncation to its context window


def cut_to_max_chars(b) -> bool:
    return max(len(b.prompt), len(b.response_a), len(b.response_b)) > MAX_CHARS


def request(b, config: DifferencesConfig) -> dict:
    message = prompts.DESCRIBER.format(prompt=b.prompt[:MAX_CHARS], response_a=b.response_a[:MAX_CHARS],
                                       response_b=b.response_b[:MAX_CHARS], max_properties=config.max_properties)
    return {"messages": [{"role": "system", "content": prompts.DESCRIBER_SYSTEM},
                         {"role": "user", "content": message}],
            "schema": prompts.differences_schema(config.max_properties),
            "temperature": config.temperature, "top_p": config.top_p, "max_tokens": config.max_tokens}


@table_step(deps=reads(BATTLES), layer=MODEL, kinds={"duckdb", LLM_KIND}, pool=model_pool("describer"),
            partitions_def=llm_stage_partitions())
def battle_differences(context: dg.AssetExecutionContext, config: DifferencesConfig, llm: LLM,
                       warehouse: Warehouse) -> Written:
    """The describer's properties per battle (JSON), or the parse error and raw output."""
    battles = rows_of_partition(context, warehouse.query(BATTLES), ["battle_id"])
    imported: dict = {}
    if config.describer_source == "planted":
        if battles.planted_properties.isna().all():
            raise ValueError("describer_source 'planted' needs the fictional dataset (its battles carry "
                             "their planted properties)")
        frame = pd.DataFrame([{"battle_id": b.battle_id, "properties_json": b.planted_properties, "error": None,
                               "raw": None, "input_truncated": False} for b in battles.itertuples()])
    elif config.describer_source == "llm":
        if config.max_properties < 1:
            raise ValueError(f"max_properties {config.max_properties}: the describer lists 1 to max_properties "
                             "behaviours per battle, so it must be at least 1")
        client = llm.client("describer", context, model=config.model_name)
        requests = [{"method": "chat_json", **request(b, config)} for b in battles.itertuples()]
        results = batch.run(client, requests, llm.batches_folder, config.batches, max_workers=config.max_workers,
                            tag=partition_tag(context), progress=Progress(context, "describer", len(requests)).step)
        frame = pd.DataFrame([{"battle_id": b.battle_id,
                               "properties_json": json.dumps(r.value["properties"]) if r.ok else None,
                               "error": r.error, "raw": None if r.ok else r.raw,
                               "input_truncated": r.truncated or cut_to_max_chars(b)}
                              for b, r in zip(battles.itertuples(), results)])
    elif config.describer_source == "none":
        frame = pd.DataFrame({"battle_id": battles.battle_id, "properties_json": "[]", "error": None, "raw": None,
                              "input_truncated": False})
    elif config.describer_source == "file":
        if not config.properties_path:
            raise ValueError("describer_source 'file' needs properties_path: a StringSight / LMM-Vibes properties file")
        frame, report = read_properties(config.properties_path, battles)
        for what in ("ignored_columns", "unmatched_question_ids"):
            if report[what]:
                context.log.warning(f"{config.properties_path}: {len(report[what])} {what.replace('_', ' ')}: "
                                    + ", ".join(report[what][:10]))
        imported = {k: len(v) if isinstance(v, list) else v for k, v in report.items()}
    else:
        raise ValueError(f"describer_source {config.describer_source!r}; valid: llm, planted, file, none")
    n = len(frame)
    parsed = int(frame.error.isna().sum())
    with_properties = int(frame.properties_json.map(lambda j: isinstance(j, str) and bool(json.loads(j))).sum())
    return one(frame, {"parsed": parsed,
                       "parse_rate": parsed / max(n, 1), "with_properties": with_properties,
                       "input_truncated": int(frame.input_truncated.sum()),
                       **imported})
