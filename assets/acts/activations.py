"""`acts.activations` and `acts.activation_means`: one vector per sentence at a layer.

One forward pass per trace (batched by the hidden_states resource; fp16 on GPU). A sentence's
vector is the mean hidden state over the tokens that overlap its character span (optionally with
the token just before it), then centred by the mean over all sentences and L2-normalised. The
centring mean is stored (`acts.activation_means`) so that new sentences are projected the same way.
"""

import dagster as dg
import numpy as np
import pandas as pd

from assets.acts.config import ActivationsConfig
from assets.core.pools import model_pool
from assets.core.tables import Written, table_step
from assets.lineage import MODEL, Query, reads
from resources.embeddings import check_finite
from resources.hidden_states import HiddenStates, TokenStates
from resources.warehouse import Warehouse


SPANS = Query("SELECT sentence_id, trace_id, char_start, char_end FROM acts.sentences ORDER BY trace_id, idx")
TRACES = Query("SELECT trace_id, full_response FROM acts.traces "
               "WHERE trace_id IN (SELECT DISTINCT trace_id FROM acts.sentences) ORDER BY trace_id")


def sentence_means(states: TokenStates, spans: list[tuple[int, int]], include_previous: bool) -> list[np.ndarray | None]:
    """Mean state over the tokens overlapping each span; None when the span lies past the cut."""
    starts, ends = states.offsets[:, 0], states.offsets[:, 1]
    out = []
    for s, e in spans:
        idx = np.where((starts < e) & (ends > s) & (ends > starts))[0]
        if len(idx) and include_previous and idx[0] > 0:
            idx = np.concatenate([[idx[0] - 1], idx])
        out.append(states.states[idx].mean(axis=0) if len(idx) else None)
    return out


def project(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Centre by the stored mean and L2-normalise: how every sentence, old or new, is placed."""
    centred = vectors - mean
    return centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)


def model_id(model: str) -> str:
    """The source tool's short model name: the last path part, lower case."""
    return model.rstrip("/").split("/")[-1].removesuffix(".gguf").lower()


@table_step(deps=reads(SPANS, TRACES), layer=MODEL, kinds={"duckdb", "torch"}, kinds_of={"activation_means": {"duckdb"}},
            pool=model_pool(local=True))
def activations(context: dg.AssetExecutionContext, config: ActivationsConfig, hidden_states: HiddenStates,
                warehouse: Warehouse) -> Written:
    """Sentence activations (mean of the layer's token states, centred, unit length) and their mean."""
    depth = hidden_states.num_layers(config.model)
    if not 0 <= config.layer <= depth:  # before the long forward passes
        raise ValueError(f"layer {config.layer} is beyond {hidden_states.model_name(config.model)}'s depth; "
                         f"valid layers: 0..{depth}")
    sentences = warehouse.query(SPANS)
    traces = warehouse.query(TRACES)
    groups = dict(tuple(sentences.groupby("trace_id", sort=False)))
    states = hidden_states.hidden_states(traces.full_response.tolist(), config.layer, model=config.model,
                                         max_tokens=config.max_tokens)
    ids, vectors = [], []
    for trace_id, token_states in zip(traces.trace_id, states):
        group = groups[trace_id]
        means = sentence_means(token_states, list(zip(group.char_start, group.char_end)),
                               config.include_previous_token)
        for sentence_id, v in zip(group.sentence_id, means):
            if v is not None:
                ids.append(sentence_id)
                vectors.append(v)
    dropped = len(sentences) - len(ids)
    if dropped:
        context.log.warning(f"{dropped} sentence(s) lie past max_tokens={config.max_tokens} and have no activation")
    if not ids:
        raise ValueError("no sentence has an activation (all past max_tokens?)")
    raw = np.stack(vectors).astype(np.float64)
    check_finite(raw, [f"sentence {i}" for i in ids], f"{hidden_states.model_name(config.model)} layer {config.layer}")
    mean = raw.mean(axis=0)
    unit = project(raw, mean).astype(np.float32)
    model = hidden_states.model_name(config.model)
    frame = pd.DataFrame({"sentence_id": ids, "vector": list(unit)})
    means = pd.DataFrame({"model": [model], "model_id": [model_id(model)], "layer": [config.layer],
                          "include_previous_token": [config.include_previous_token],
                          "n_sentences": [len(ids)], "mean": [mean.astype(np.float32)]})
    return Written({"activations": frame, "activation_means": means}, {"activations": {
        "model": model, "layer": config.layer, "dimensions": int(raw.shape[1]), "sentences_past_max_tokens": dropped}})
