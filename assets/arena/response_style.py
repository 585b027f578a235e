"""`arena.response_style` and `arena.source_battles`: style features of both responses of every battle (length, markdown
headers, lists, bold, code blocks, refusals, questions back to the user; analysis/style.py), one
row per battle, side and feature. No LLM: it reads its own battles (the same sources and keys as
arena.battles, all of them by default), so the demo measures all 999 bundled battles while the
describer reads a handful. `arena.model_style_metrics` links each feature to winning;
`arena.source_battles` keeps the battles' texts, so every number over them opens onto them.
"""

import dagster as dg

from analysis.style import battle_style
from assets.arena.battles import load_battles
from assets.arena.config import StyleConfig
from assets.core.tables import Written, table_step
from assets.lineage import INPUT
from resources.datasets import Datasets
from resources.warehouse import Warehouse


@table_step(layer=INPUT)
def response_style(context: dg.AssetExecutionContext, config: StyleConfig, datasets: Datasets,
                   warehouse: Warehouse) -> Written:
    """Style features per battle, side and feature, with the outcome for that side's model; the battles."""
    battles = load_battles(config, datasets)
    frame = battle_style(battles)
    return Written({"response_style": frame, "source_battles": battles[SOURCE_COLUMNS]},
                   {"response_style": {"battles": len(battles), "models": int(frame.model.nunique()),
                                       "dataset": config.dataset}})


SOURCE_COLUMNS = ["battle_id", "model_a", "model_b", "winner", "prompt_turns", "response_a_turns", "response_b_turns",
                  "prompt", "response_a", "response_b", "n_turns"]
