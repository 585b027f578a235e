"""`cje_logs.oracle_labels`: role oracle (its own stricter rubric, `judge_prompts.ORACLE_RUBRIC`,
and the [roles.oracle] model) on a seeded `oracle_fraction` of the base's rows (split calibration)
and of each target's (split validation)."""

import dagster as dg
import numpy as np
import pandas as pd

from assets.cje_logs import judge_prompts
from assets.cje_logs.config import OracleConfig
from assets.cje_logs.judge_scores import ALL_RESPONSES, score_0_10
from assets.cje_logs.responses import KINDS
from assets.core.pools import model_pool
from assets.core.tables import Written, one, table_step
from assets.lineage import MODEL, reads
from resources.datasets import DatasetError
from resources.llm import LLM
from resources.warehouse import Warehouse


@table_step(deps=reads(ALL_RESPONSES), layer=MODEL, kinds=KINDS, pool=model_pool("oracle"))
def oracle_labels(context: dg.AssetExecutionContext, config: OracleConfig, llm: LLM,
                  warehouse: Warehouse) -> Written:
    """Role oracle on a seeded share of each policy's rows: the base's for calibration, each
    target's for validation."""
    if not 0 < config.oracle_fraction <= 1:
        raise DatasetError(f"oracle_fraction must be in (0, 1], got {config.oracle_fraction}")
    client = llm.client("oracle", context, model=config.oracle_model)
    rows = warehouse.query(ALL_RESPONSES)
    rng = np.random.default_rng(config.seed)
    out = []
    for policy, group in rows.groupby("policy", sort=True):
        k = max(1, round(config.oracle_fraction * len(group)))
        for r in group.iloc[np.sort(rng.choice(len(group), size=k, replace=False))].itertuples():
            label, _ = score_0_10(client, judge_prompts.ORACLE_RUBRIC, r.prompt, r.response)
            out.append({"prompt_id": r.prompt_id, "policy": policy, "draw_idx": r.draw_idx,
                        "oracle_label": label, "split": "calibration" if r.is_base else "validation"})
    frame = pd.DataFrame(out)
    return one(frame, {"oracle_fraction": config.oracle_fraction,
                       "seed": config.seed, "unparsed": int(frame.oracle_label.isna().sum())})
