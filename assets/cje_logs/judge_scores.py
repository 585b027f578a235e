"""`cje_logs.judge_scores`: role judge on every response, in two modes: `deterministic` (0-10
rubric, JSON, greedy, / 10) and `uncertainty` (expected digit 0-9 and its variance from the
digits' probabilities, / 9; null on a backend without log-probabilities)."""

import dagster as dg
import numpy as np
import pandas as pd

from assets.cje_logs import judge_prompts
from assets.cje_logs.config import JudgeConfig
from assets.progress import Progress
from assets.cje_logs.responses import KINDS
from assets.core.partitions import llm_stage_partitions, rows_of_partition
from assets.core.pools import model_pool
from assets.core.tables import Written, one, table_step
from assets.lineage import MODEL, Query, reads
from resources.llm import LLM, RoleClient
from resources.warehouse import Warehouse

ALL_RESPONSES = Query("SELECT prompt_id, policy, draw_idx, prompt, response, is_base FROM cje_logs.prompt_responses "
                      "ORDER BY policy, prompt_id")


def score_0_10(client: RoleClient, rubric: str, prompt: str, response: str) -> tuple[float | None, str | None]:
    """A 0-10 JSON score under `rubric`, / 10 (greedy), or None and why it did not parse."""
    det = client.chat_json([{"role": "user", "content": rubric.format(
        scale=judge_prompts.DETERMINISTIC_SCALE, prompt=prompt, response=response)}],
        judge_prompts.SCORE_SCHEMA, temperature=0.0, max_tokens=12)
    return (det.value["score"] / 10 if det.ok else None), det.error


def judge(client: RoleClient, prompt: str, response: str) -> dict:
    """Both judging modes for one response."""
    score, error = score_0_10(client, judge_prompts.RUBRIC, prompt, response)
    if not client.gives_logprobs:  # e.g. anthropic: the deterministic mode alone
        return {"deterministic_score": score, "deterministic_error": error,
                "uncertainty_score": None, "uncertainty_variance": None}
    unc = client.choice_logprobs([{"role": "user", "content": judge_prompts.RUBRIC.format(
        scale=judge_prompts.UNCERTAINTY_SCALE, prompt=prompt, response=response)}],
        options=judge_prompts.UNCERTAINTY_OPTIONS)
    lp = np.array([unc.logprobs[d] if unc.logprobs[d] is not None else -np.inf
                   for d in judge_prompts.UNCERTAINTY_OPTIONS])
    p = np.exp(lp - lp.max()) / np.exp(lp - lp.max()).sum() if np.isfinite(lp).any() else None
    digits = np.arange(10)
    return {"deterministic_score": score, "deterministic_error": error,
            "uncertainty_score": float(p @ digits) / 9 if p is not None else None,
            "uncertainty_variance": float(p @ (digits - p @ digits) ** 2) / 81 if p is not None else None}


@table_step(deps=reads(ALL_RESPONSES), layer=MODEL, kinds=KINDS, pool=model_pool("judge"),
            partitions_def=llm_stage_partitions())
def judge_scores(context: dg.AssetExecutionContext, config: JudgeConfig, llm: LLM,
                 warehouse: Warehouse) -> Written:
    """Role judge on every response, in both modes."""
    client = llm.client("judge", context, model=config.proxy_model)
    rows = rows_of_partition(context, warehouse.query(ALL_RESPONSES), ["prompt_id"])
    out, progress = [], Progress(context, "judge", len(rows))
    for r in rows.itertuples():
        out.append({"prompt_id": r.prompt_id, "policy": r.policy, "draw_idx": r.draw_idx,
                    **judge(client, r.prompt, r.response)})
        progress.step()
    frame = pd.DataFrame(out).astype({"uncertainty_score": float, "uncertainty_variance": float})
    return one(frame, {"parse_errors": int(frame.deterministic_error.notna().sum())})
