"""`arena.behaviour_scores`: per battle, behaviour and answer order, which response the role
`scorer` says shows the behaviour more.

Every battle is asked twice, once with the responses in the data's order and once swapped, and all
of its behaviours go in one call (a JSON schema with one field per behaviour, as VibeCheck batches
a pair's vibes), so the cost is two calls per battle whatever the number of behaviours. `answer`
is what the scorer said of the responses as it saw them, `shows` the same mapped back to the data's
sides, so the two orders compare directly (arena.behaviour_verdicts). Cached, resumable, partitioned
by battle and Batch-API ready exactly as the describer (assets/arena/battle_differences.py).
`scorer_source: planted` answers with the fictional dataset's ground truth
(assets/arena/fictional.py: `planted_answer`).
"""

import dagster as dg
import pandas as pd

from assets.arena import fictional, prompts
from assets.arena.battle_differences import MAX_CHARS, cut_to_max_chars
from assets.arena.config import ScoresConfig
from assets.core.llm_calls import LLM_KIND
from assets.core.partitions import llm_stage_partitions, partition_tag, rows_of_partition
from assets.core.pools import model_pool
from assets.core.tables import one, table_step
from assets.lineage import MODEL, Query, reads
from assets.progress import Progress
from resources.llm import LLM, batch
from resources.warehouse import Warehouse

BATTLES = Query("SELECT battle_id, prompt, response_a, response_b FROM arena.battles ORDER BY battle_id")
BEHAVIOURS = Query("SELECT behaviour, label, description, example FROM arena.rubric_behaviours ORDER BY position")
ORDERS = ("original", "swapped")
SWAP = {"A": "B", "B": "A", "equal": "equal"}


def request(b, order: str, keys: list[str], behaviours: pd.DataFrame, config: ScoresConfig) -> dict:
    first, second = (b.response_a, b.response_b) if order == "original" else (b.response_b, b.response_a)
    message = prompts.SCORER.format(
        prompt=b.prompt[:MAX_CHARS], response_a=first[:MAX_CHARS], response_b=second[:MAX_CHARS],
        behaviours=prompts.behaviour_list(keys, behaviours.label.tolist(), behaviours.description.tolist()))
    return {"method": "chat_json",
            "messages": [{"role": "system", "content": prompts.SCORER_SYSTEM}, {"role": "user", "content": message}],
            "schema": prompts.scorer_schema(keys), "temperature": config.temperature, "max_tokens": config.max_tokens}


def planted_answers(b, order: str, behaviours: pd.DataFrame) -> dict:
    first, second = (b.response_a, b.response_b) if order == "original" else (b.response_b, b.response_a)
    return {k: fictional.planted_answer(fictional.planted_key(name, example or ""), first, second)
            for k, name, example in zip(keys_of(behaviours), behaviours.behaviour, behaviours.example)}


def keys_of(behaviours: pd.DataFrame) -> list[str]:
    # short field names: a behaviour's own name may be long, repeated in case, or not a valid key
    return [f"b{i}" for i in range(1, len(behaviours) + 1)]


@table_step(deps=reads(BATTLES, BEHAVIOURS), layer=MODEL, kinds={"duckdb", LLM_KIND}, pool=model_pool("scorer"),
            partitions_def=llm_stage_partitions())
def behaviour_scores(context: dg.AssetExecutionContext, config: ScoresConfig, llm: LLM, warehouse: Warehouse):
    """The scorer's answer per battle, behaviour and order (or the call's error)."""
    battles = rows_of_partition(context, warehouse.query(BATTLES), ["battle_id"])
    behaviours = warehouse.query(BEHAVIOURS)
    keys = keys_of(behaviours)
    asked = [(b, order) for b in battles.itertuples() for order in ORDERS]
    if config.scorer_source == "planted":
        answers = [(planted_answers(b, order, behaviours), None, None, False) for b, order in asked]
    elif config.scorer_source == "llm":
        client = llm.client("scorer", context, model=config.model_name)
        requests = [request(b, order, keys, behaviours, config) for b, order in asked]
        results = batch.run(client, requests, llm.batches_folder, config.batches, max_workers=config.max_workers,
                            tag=partition_tag(context), progress=Progress(context, "scorer", len(requests)).step)
        answers = [(r.value if r.ok else None, r.error, None if r.ok else r.raw, r.truncated or cut_to_max_chars(b))
                   for (b, _), r in zip(asked, results)]
    else:
        raise ValueError(f"scorer_source {config.scorer_source!r}; valid: llm, planted")
    rows = []
    for (b, order), (value, error, raw, truncated) in zip(asked, answers):
        for key, behaviour in zip(keys, behaviours.behaviour):
            answer = value[key] if value else None
            shows = None if answer is None else answer if order == "original" else SWAP[answer]
            rows.append({"battle_id": b.battle_id, "behaviour": behaviour, "answer_order": order, "answer": answer,
                         "shows": shows, "error": error, "raw": raw, "input_truncated": truncated})
    frame = pd.DataFrame(rows, columns=["battle_id", "behaviour", "answer_order", "answer", "shows", "error", "raw",
                                        "input_truncated"])
    calls = len(asked)
    failed = sum(1 for a in answers if a[0] is None)
    return one(frame, {"calls": calls, "parsed": calls - failed, "parse_rate": (calls - failed) / max(calls, 1),
                       "behaviours": len(behaviours)})
