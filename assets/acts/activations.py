"""`acts.activations` and `acts.activation_means`: one vector per sentence at each layer of `layers`.

One forward pass per trace gives every layer (batched by the hidden_states resource; fp16 on GPU,
int8 weights with `load_in_8bit` where bitsandbytes and CUDA are present). A sentence's
vector is the mean hidden state over the tokens that overlap its character span (optionally with
the token just before it), then centred by the layer's mean over all sentences and L2-normalised.
The centring mean of each layer is stored (`acts.activation_means`) so that new sentences are projected the same way.
"""

import dagster as dg
import numpy as np
import pandas as pd

from assets.acts.config import ActivationsConfig
from assets.core.pools import model_pool
from assets.core.tables import Written, table_step
from assets.lineage import MODEL, Query, reads
from resources.embeddings import check_finite
from resources.hidden_states import HiddenStates, TokenStates, eight_bit_problem
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
    """Sentence activations (mean of each layer's token states, centred, unit length) and their means."""
    layers = sorted(set(config.layers))
    if not layers:
        raise ValueError("acts__activations.layers is empty: name at least one layer, e.g. layers = [12]")
    if config.load_in_8bit and (problem := eight_bit_problem()):  # before loading anything
        raise ValueError(f"acts__activations.load_in_8bit: {problem}; set it to false")
    depth = hidden_states.num_layers(config.model, config.load_in_8bit)
    wrong = [layer for layer in layers if not 0 <= layer <= depth]
    if wrong:  # before the long forward passes
        raise ValueError(f"layer(s) {wrong} beyond {hidden_states.model_name(config.model)}'s depth; "
                         f"valid layers: 0..{depth}")
    sentences = warehouse.query(SPANS)
    traces = warehouse.query(TRACES)
    groups = dict(tuple(sentences.groupby("trace_id", sort=False)))
    states = hidden_states.hidden_states(traces.full_response.tolist(), layers, model=config.model,
                                         max_tokens=config.max_tokens, load_in_8bit=config.load_in_8bit)
    model = hidden_states.model_name(config.model)
    frames, means, dropped = [], [], 0
    for layer in layers:
        ids, vectors = [], []
        for trace_id, token_states in zip(traces.trace_id, states[layer]):
            group = groups[trace_id]
            for sentence_id, v in zip(group.sentence_id, sentence_means(
                    token_states, list(zip(group.char_start, group.char_end)), config.include_previous_token)):
                if v is not None:
                    ids.append(sentence_id)
                    vectors.append(v)
        dropped = len(sentences) - len(ids)  # the same sentences at every layer: the cut is in tokens
        if not ids:
            raise ValueError("no sentence has an activation (all past max_tokens?)")
        raw = np.stack(vectors).astype(np.float64)
        check_finite(raw, [f"sentence {i}" for i in ids], f"{model} layer {layer}")
        mean = raw.mean(axis=0)
        frames.append(pd.DataFrame({"layer": layer, "sentence_id": ids, "vector": list(project(raw, mean).astype(np.float32))}))
        means.append({"model": model, "model_id": model_id(model), "layer": layer,
                      "include_previous_token": config.include_previous_token, "n_sentences": len(ids),
                      "mean": mean.astype(np.float32)})
    if dropped:
        context.log.warning(f"{dropped} sentence(s) lie past max_tokens={config.max_tokens} and have no activation")
    return Written({"activations": pd.concat(frames, ignore_index=True), "activation_means": pd.DataFrame(means)},
                   {"activations": {"model": model, "layers": layers, "dimensions": int(raw.shape[1]),
                                    "sentences_past_max_tokens": dropped}})
