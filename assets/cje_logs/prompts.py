"""`cje_logs.prompts`: English first turns of Arena battles (or any dataset's prompt column),
`max_samples` of them, seeded."""

import dagster as dg
import numpy as np
import pandas as pd

from assets.cje_logs.config import PromptsConfig
from assets.core.tables import Written, one, table_step
from assets.lineage import INPUT
from resources.datasets import Datasets, DatasetError, first_turn, looks_english, named_input
from resources.warehouse import Warehouse


@table_step(layer=INPUT)
def prompts(context: dg.AssetExecutionContext, config: PromptsConfig, datasets: Datasets,
            warehouse: Warehouse) -> Written:
    """English first turns of Arena battles, `max_samples` of them, seeded."""
    source = named_input(config.source, "cje_logs__prompts.source", "vibescope cje build --source FILE")
    frame = datasets.load(source, columns=[config.prompt_column])
    text = frame[config.prompt_column].map(first_turn).str.strip()
    keep = text.ne("") & (text.map(looks_english) if config.filter_english else True)
    ids = frame["id"].astype(str) if "id" in frame else pd.Series(np.arange(len(frame))).astype(str)
    pool = pd.DataFrame({"prompt_id": "arena_" + ids, "prompt": text})[keep].drop_duplicates("prompt")
    if pool.empty:
        raise DatasetError(f"{config.source}: no usable prompts (filter_english={config.filter_english})")
    chosen = pool.sample(n=min(config.max_samples or len(pool), len(pool)), random_state=config.seed)
    frame = chosen.reset_index(drop=True)
    return one(frame, {"available": len(pool)})
