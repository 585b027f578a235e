"""The LLM resource on the embedded default (SmolLM2-135M-Instruct through llama.cpp)."""

import math

import numpy as np
import pytest

from resources.llm import LLM, LLMConfigError
from resources.llm.backend_llamacpp import embedded_gguf
from resources.settings import SettingsError, load_settings
from tests.conftest import write_settings

Q = [{"role": "user", "content": "Name one colour of the rainbow."}]
PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}


@pytest.fixture
def llm(settings_file) -> LLM:
    return LLM(settings_file=str(settings_file))


@pytest.fixture(scope="module")
def reference_llama():
    """A separate llama.cpp instance with logits_all, for llama-cpp-python's own logprobs paths."""
    from llama_cpp import Llama

    return Llama(model_path=embedded_gguf(), n_ctx=2048, logits_all=True, verbose=False)


def backend_calls(llm: LLM) -> int:
    calls = llm.cache.calls()
    return int((~calls.cached & calls.error.isna()).sum())


def test_chat_is_cached_and_logged(llm):
    client = llm.client("describer")
    first = client.chat(Q, max_tokens=16)
    again = client.chat(Q, max_tokens=16)
    assert first.text and not first.cached and again.cached and again.text == first.text
    assert first.prompt_tokens > 0 and 0 < first.completion_tokens <= 16
    calls = llm.cache.calls()
    assert calls.cached.tolist() == [False, True]
    assert calls.role.unique().tolist() == ["describer"] and (calls.cost_usd == 0).all()
    assert backend_calls(llm) == 1


def test_chat_json_fits_the_schema(llm):
    out = llm.client("describer").chat_json(
        [{"role": "user", "content": "Give a person as JSON with a name and an age."}], PERSON,
        max_tokens=64)
    assert out.ok, out.raw
    assert set(out.value) == {"name", "age"} and isinstance(out.value["age"], int)


def test_chat_json_failure_is_returned_with_raw_text_after_retries(llm):
    # 3 tokens cannot hold the object; each retry doubles max_tokens (3, 6, 12): still too few
    long = {"type": "object", "properties": {"essay": {"type": "string", "minLength": 200}},
            "required": ["essay"]}
    out = llm.client("describer").chat_json(
        [{"role": "user", "content": "Write an essay about the sea as JSON."}], long, max_tokens=3)
    assert not out.ok and out.value is None
    assert out.attempts == 3 and out.raw.startswith("{")
    assert backend_calls(llm) == 3  # each attempt is a different request, none served from cache


def test_long_input_is_truncated_and_recorded(llm):
    text = "The quick brown fox jumps over the lazy dog. " * 600  # ~6000 tokens > n_ctx 2048
    out = llm.client("describer").chat([{"role": "user", "content": text + "Summarise."}], max_tokens=8)
    assert out.truncated
    assert llm.cache.calls().truncated.tolist() == [True]


def test_max_tokens_beyond_the_window_still_answers(llm):
    # a JSON retry doubles max_tokens (768 -> 3072 on a 2048 window): the prompt keeps half the
    # window, the answer gets the rest, and nothing fails
    text = "The quick brown fox jumps over the lazy dog. " * 300
    out = llm.client("describer").chat([{"role": "user", "content": text + "Summarise."}], max_tokens=3072,
                                       temperature=0.0)
    assert out.truncated and out.text
    assert out.prompt_tokens + out.completion_tokens <= 2048


def test_choice_logprobs_equal_llama_cpp_own_logprobs(llm, reference_llama):
    client = llm.client("classifier")
    messages = [{"role": "user", "content": "Is water wet? Answer only with 'A' for yes or 'B' for no."}]
    out = client.choice_logprobs(messages, options=["A", "B"])
    assert all(math.isfinite(v) and v < 0 for v in out.logprobs.values())
    assert out.best() in ("A", "B")
    # independent path: llama.cpp's own completion with logprobs over the same rendered prompt
    backend = client.backend
    prompt = backend.chat_template(messages)
    ref = reference_llama.create_completion(prompt, max_tokens=1, logprobs=10, temperature=0)
    top = ref["choices"][0]["logprobs"]["top_logprobs"][0]
    for option in ("A", "B"):
        if option in top:
            assert out.logprobs[option] == pytest.approx(top[option], abs=1e-3)
    best_token, best_lp = out.top[0]
    assert top[best_token] == pytest.approx(best_lp, abs=1e-3)


def test_kv_cache_reuse_gives_what_a_fresh_model_gives(llm, settings):
    """Two prompts sharing a long prefix: the second reuses cached chunks, bit for bit."""
    from resources.llm.backend_llamacpp import LlamaCppBackend

    shared = "Background: " + "Rivers carry water from mountains to the sea. " * 30
    requests = [{"kind": "choice", "options": ["A", "B"], "messages": [
        {"role": "user", "content": f"{shared}\nQuestion {q}: answer 'A' or 'B'."}]}
        for q in ("one", "two")]
    used = llm.client("classifier").backend
    used.choice(requests[0])
    reused = used.choice(requests[1])
    fresh = LlamaCppBackend("smollm2-135m-instruct", settings.backends.llamacpp).choice(requests[1])
    assert reused == fresh
    score_request = {"kind": "score", "messages": requests[0]["messages"], "response": "A, surely.",
                     "temperature": 0.7, "top_p": 0.9, "top_k": 0, "min_p": 0.0, "logprobs": "sampling",
                     "ended": True}
    assert used.score(score_request) == LlamaCppBackend(
        "smollm2-135m-instruct", settings.backends.llamacpp).score(score_request)


def test_multi_token_option_is_refused(llm):
    with pytest.raises(LLMConfigError, match="single-token"):
        llm.client("classifier").choice_logprobs(Q, options=["Absolutely", "B"])


def test_score_sequence_reproduces_generation_logprobs(llm, reference_llama):
    """Teacher forcing a greedy reply gives back the log-probs llama.cpp reported generating it
    (the model's own: temperature 1, no truncation, as llama-cpp-python reports them)."""
    client = llm.client("describer")
    model = dict(temperature=1.0, top_p=1.0)
    gen = reference_llama.create_chat_completion(Q, max_tokens=24, temperature=0, logprobs=True,
                                                 top_logprobs=1)
    text = gen["choices"][0]["message"]["content"]
    generated = gen["choices"][0]["logprobs"]["content"]
    score = client.score_sequence(Q, text, **model)
    assert score.boundary_ok and "".join(score.tokens) == text
    assert score.tokens == [t["token"] for t in generated]
    np.testing.assert_allclose(score.token_logprobs, [t["logprob"] for t in generated], atol=1e-5)
    assert score.logprob > client.score_sequence(Q, text + " Banana banana.", **model).logprob


def test_unknown_model_lists_valid_ones(tmp_path, monkeypatch):
    path = write_settings(tmp_path / "s.toml")
    path.write_text(path.read_text().replace('[roles.judge]\n', '[roles.judge]\nbackend = "llamacpp"\nmodel = "gpt-5"\n'))
    with pytest.raises(LLMConfigError, match=r"unknown model 'gpt-5'.*smollm2-135m-instruct.*\.gguf"):
        LLM(settings_file=str(path)).client("judge")


def test_unknown_role_lists_roles(llm):
    with pytest.raises(SettingsError, match="no role 'critic'.*describer"):
        llm.client("critic")


def test_unknown_parameter_is_refused(llm):
    with pytest.raises(LLMConfigError, match="temprature"):
        llm.client("describer").chat(Q, temprature=0.1)


def test_a_gguf_path_works_as_model(tmp_path):
    path = write_settings(tmp_path / "s.toml", f'[roles."path_role"]\nbackend = "llamacpp"\n'
                                               f'model = "{embedded_gguf()}"\nmax_tokens = 4\n')
    assert LLM(settings_file=str(path)).client("path_role").chat(Q).text
    assert load_settings(path).role("path_role").model.endswith(".gguf")
