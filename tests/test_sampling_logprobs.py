"""Log-probabilities of a policy's sampling distribution (resources/llm/sampling.py), checked
against numpy on llama.cpp's raw logits, against llama.cpp's own sampler, and by the mean of
importance weights between two temperatures."""

import numpy as np
import pytest
from scipy import stats

from resources.llm import LLM, CapabilityError
from resources.llm.backend_llamacpp import embedded_gguf
from resources.llm.sampling import Sampling, llamacpp_logprobs
from tests.conftest import free_port, write_settings

Q = [{"role": "user", "content": "Name one colour of the rainbow."}]
SETTINGS = [Sampling(1.0), Sampling(0.5, 0.95), Sampling(0.7, 0.8), Sampling(1.3, 0.9, top_k=20),
            Sampling(0.9, 1.0, min_p=0.05), Sampling(1.0, 0.95, top_k=40, min_p=0.05), Sampling(0.0)]


def reference(logits: np.ndarray, s: Sampling) -> np.ndarray:
    """What llama-cpp-python's chain does, step by step, written out plainly in float64."""
    logits = logits.astype(np.float64)
    if s.temperature == 0:
        out = np.full(len(logits), -np.inf)
        out[np.argmax(logits)] = 0.0
        return out
    candidates = sorted(range(len(logits)), key=lambda i: -logits[i])
    if s.top_k > 0:
        candidates = candidates[: s.top_k]
    if s.top_p < 1:
        z = logits[candidates]
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        total, kept = 0.0, []
        for token, prob in zip(candidates, p):
            kept.append(token)
            total += prob
            if total >= s.top_p:
                break
        candidates = kept
    if s.min_p > 0:
        best = logits[candidates[0]]
        candidates = [t for t in candidates if np.exp(logits[t] - best) >= s.min_p]
    z = logits[candidates] / s.temperature
    out = np.full(len(logits), -np.inf)
    out[candidates] = z - z.max() - np.log(np.exp(z - z.max()).sum())
    return out


@pytest.fixture(scope="module")
def raw():
    """llama.cpp with every position's logits kept (logits_all), as the reference."""
    from llama_cpp import Llama

    return Llama(model_path=embedded_gguf(), n_ctx=2048, n_batch=64, n_ubatch=64, logits_all=True, verbose=False)


@pytest.fixture
def llm(settings_file) -> LLM:
    return LLM(settings_file=str(settings_file))


@pytest.mark.parametrize("sampling", SETTINGS, ids=str)
def test_teacher_forced_logprobs_equal_numpy_on_raw_logits(llm, raw, sampling):
    client = llm.client("describer")
    backend = client.backend
    text = "Red is one of the colours, and so is violet."
    params = dict(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k, min_p=sampling.min_p)
    score = client.score_sequence(Q, text, ended=True, **params)

    messages = client.build_request("score", Q, {})["messages"]  # with the role's system prompt
    prompt_ids = backend.tokenize(backend.chat_template(messages))
    response_ids = backend.tokenize(text, special=False)
    raw.reset()
    raw.eval(prompt_ids)  # the prompt as one batch, the response token by token, as generation does
    for token in response_ids:
        raw.eval([token])
    logits = raw.scores[len(prompt_ids) - 1: len(prompt_ids) + len(response_ids)]
    expected = [reference(row, sampling)[t] for row, t in zip(logits, response_ids)]
    end = reference(logits[-1], sampling)[backend.end_tokens]
    expected.append(np.logaddexp.reduce(end))

    got = np.array(score.token_logprobs)
    assert len(got) == len(response_ids) + 1 and score.tokens[-1] == "<|im_end|>"
    assert (np.isinf(got) == np.isinf(expected)).all()
    finite = np.isfinite(got)
    np.testing.assert_allclose(got[finite], np.array(expected)[finite], atol=2e-4)
    if sampling.is_model_distribution:
        assert finite.all()
    if sampling in (Sampling(0.7, 0.8), Sampling(0.0)):  # this text leaves a narrow nucleus
        assert not finite.all() and score.logprob == -np.inf


@pytest.mark.parametrize("sampling", [Sampling(0.7, 0.8), Sampling(1.3, 0.9, top_k=20, min_p=0.02)], ids=str)
def test_llamacpp_draws_follow_the_computed_distribution(raw, sampling):
    """llama.cpp's own sampler, 3,000 draws from one position: never outside the computed support,
    and the frequencies fit the computed probabilities (chi-square)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(template=raw.metadata["tokenizer.chat_template"], eos_token="<|im_end|>",
                                    bos_token="<|im_start|>")
    raw.reset()
    raw.eval(raw.tokenize(formatter(messages=Q).prompt.encode(), add_bos=True, special=True))
    probs = np.exp(llamacpp_logprobs(raw.scores[raw.n_tokens - 1], sampling))
    draws = []
    for seed in range(3000):
        raw.set_seed(seed)
        draws.append(raw.sample(top_k=sampling.top_k, top_p=sampling.top_p, min_p=sampling.min_p,
                                temp=sampling.temperature))
    counts = np.bincount(draws, minlength=len(probs))
    assert counts[probs == 0].sum() == 0
    support = np.flatnonzero(probs > 0)
    assert len(support) > 1
    big = support[probs[support] * 3000 >= 5]  # chi-square bins: each large token, the rest pooled
    observed = [*counts[big], counts[support].sum() - counts[big].sum()]
    expected = [*(probs[big] * 3000), 3000 - (probs[big] * 3000).sum()]
    if expected[-1] < 5:
        observed, expected = observed[:-1], expected[:-1]
        expected = np.array(expected) * sum(observed) / sum(expected)
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def _policies(tmp_path, base: str, target: str) -> LLM:
    roles = "".join(f'[roles.policy.{name}]\nbackend = "llamacpp"\nmodel = "smollm2-135m-instruct"\n'
                    f'max_tokens = 3\n{sampling}\n\n' for name, sampling in (("a", base), ("b", target)))
    return LLM(settings_file=str(write_settings(tmp_path / "s.toml", roles)))


def test_weights_between_two_temperatures_average_one(tmp_path):
    """Two policies that differ only in temperature: the weights of the target's to the base's
    sequence probabilities, over the base's own draws, average 1 (E_base[p_b / p_a] = 1 when the
    base can sample everything the target can), and are not 1."""
    llm = _policies(tmp_path, "temperature = 1.0\ntop_p = 1.0", "temperature = 0.7\ntop_p = 0.9")
    a, b = llm.client("policy.a"), llm.client("policy.b")
    prompt = [{"role": "user", "content": "Say a word."}]
    weights = []
    for seed in range(200):  # at 100 the mean is 0.54 (SE 0.10): the heavy tail needs the draws
        reply = a.chat(prompt, seed=seed)
        ended = reply.finish_reason == "stop"
        weights.append(np.exp(b.score_sequence(prompt, reply.text, ended).logprob
                              - a.score_sequence(prompt, reply.text, ended).logprob))
    w = np.array(weights)
    se = w.std(ddof=1) / np.sqrt(len(w))
    assert (w == 0).any() and (w > 1.01).any()  # outside b's nucleus: 0; in it: above 1
    assert abs(w.mean() - 1) < 3 * se, (w.mean(), se)


def test_a_server_refuses_a_tempered_policy_unless_accepted(tmp_path):
    """An OpenAI-compatible server gives the model's log-probabilities only: a policy that samples
    at temperature 0.5 is refused by name before any call, and accepted with logprobs = "model"."""
    url = f"http://127.0.0.1:{free_port()}/v1"  # refused before any call: nothing need listen
    roles = (f'[roles.policy.s]\nbackend = "openai"\nmodel = "smollm2"\nbase_url = "{url}"\n'
             'chat_template = "smollm2-135m-instruct"\ntemperature = 0.5\n')
    llm = LLM(settings_file=str(write_settings(tmp_path / "s.toml", roles)))
    with pytest.raises(CapabilityError, match=r"role 'policy.s' samples at temperature 0.5, top_p 1.*"
                                              r"logprobs = \"model\" under \[roles.policy.s\]"):
        llm.client("policy.s").score_sequence(Q, "Red.")
    assert llm.client("policy.s").sampling_logprobs_problem(temperature=1.0) is None
