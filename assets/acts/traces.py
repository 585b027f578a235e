"""`acts.traces`: reasoning traces, from a file or sample with `full_response`, or written by role
policy.reasoner for a dataset of questions (the `<think>` tag added where the reply lacks it)."""

import dagster as dg
import numpy as np
import pandas as pd

from assets.acts.config import TracesConfig
from assets.acts.sentences import OPEN
from assets.core.llm_calls import LLM_KIND
from assets.core.pools import model_pool
from assets.core.tables import Written, one, table_step
from assets.lineage import INPUT
from assets.progress import Progress
from resources.datasets import DatasetError, Datasets, named_input
from resources.llm import LLM
from resources.warehouse import Warehouse


def generate_traces(client, questions: list[str], progress=None) -> list[str]:
    """The reasoner's answer to each question, as a trace: prompt, then `<think>` and the answer
    (the tag is added when the reply lacks it, as reasoning models' chat templates do)."""
    replies = client.run_batch([{"method": "chat", "messages": [{"role": "user", "content": q}]} for q in questions],
                               progress=progress)
    return [f"{q}\n{'' if OPEN in r.text else OPEN}{r.text}" for q, r in zip(questions, replies)]


@table_step(layer=INPUT, kinds={"duckdb", LLM_KIND}, pool=model_pool("policy.reasoner"))
def traces(context: dg.AssetExecutionContext, config: TracesConfig, datasets: Datasets, llm: LLM,
           warehouse: Warehouse) -> Written:
    """Reasoning traces: a file or sample with `full_response`, or written by role policy.reasoner
    for a dataset of questions. `n_examples` are sampled with `seed`."""
    source, column = ((config.questions, config.question_column) if config.questions
                      else (named_input(config.source, "acts__traces.source", "vibescope acts TRACES"),
                            config.text_column))
    frame = datasets.load(source, columns=[column], as_text=[column])
    frame = frame.assign(source_row=np.arange(len(frame)))
    has_text = frame[column].notna() & frame[column].astype(str).str.strip().ne("")
    empty = frame.source_row[~has_text].tolist()
    frame = frame[has_text]
    if frame.empty:
        raise DatasetError(f"{source}: no non-empty text in column {column!r} ({len(empty)} rows, all empty)")
    if empty:  # left out, counted and named
        context.log.warning(f"{source}: {len(empty)} row(s) with an empty or missing {column!r} left out "
                            f"(source rows {empty[:20]})")
    if config.n_examples and len(frame) > config.n_examples:
        keep = np.sort(np.random.default_rng(config.seed).choice(len(frame), config.n_examples, replace=False))
        frame = frame.iloc[keep]
    texts = frame[column].astype(str).tolist()
    if config.questions:
        texts = generate_traces(llm.client("policy.reasoner", context), texts,
                                Progress(context, "reasoner", len(texts)).step)
    out = pd.DataFrame({"trace_id": np.arange(len(frame)), "source_row": frame.source_row.to_numpy(),
                        "full_response": texts, "source": source})
    return one(out, {"source": source, "empty_texts": len(empty),
                     "generated": bool(config.questions)})
