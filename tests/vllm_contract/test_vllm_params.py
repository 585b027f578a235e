"""Contract of the vllm backend with the pinned vLLM (`make test-vllm`, in a venv of its own): the
engine arguments, sampling and structured-output parameters it builds are accepted by that version,
and `sampling.vllm_logprobs` equals vLLM's own top-k/top-p code on random logits. Runs wherever
vllm imports, which needs no GPU; `make test-gpu` runs the engine itself."""

import numpy as np
import pytest

vllm = pytest.importorskip("vllm", reason="vllm is not installed here: `make test-vllm` makes a venv with it")
torch = pytest.importorskip("torch")

from assets.arena.prompts import differences_schema  # noqa: E402
from resources.llm.backend_vllm import engine_args, sampling_params, scoring_params  # noqa: E402
from resources.llm.sampling import Sampling, vllm_logprobs  # noqa: E402
from resources.settings_models import VLLMSettings  # noqa: E402

REQUEST = {"temperature": 0.6, "top_p": 0.95, "top_k": 0, "min_p": 0.0, "max_tokens": 64, "seed": 7,
           "messages": [{"role": "user", "content": "hi"}]}


def test_the_pinned_version():
    assert vllm.__version__ == "0.32.0"


def test_engine_arguments_are_the_pinned_versions():
    """Every argument is one of EngineArgs' fields (building EngineArgs would fetch the model's
    config), and the log-probability mode is one the version knows."""
    import dataclasses
    import typing

    from vllm.config.model import LogprobsMode
    from vllm.engine.arg_utils import EngineArgs

    args = engine_args("Qwen/Qwen2.5-0.5B-Instruct", VLLMSettings())
    assert set(args) <= {f.name for f in dataclasses.fields(EngineArgs)}
    assert args["logprobs_mode"] in typing.get_args(LogprobsMode) and args["max_logprobs"] == -1


def test_sampling_and_structured_output_parameters():
    params = sampling_params(vllm, {**REQUEST, "top_k": 40, "min_p": 0.05})
    assert (params.temperature, params.top_p, params.top_k, params.min_p, params.seed) == (0.6, 0.95, 40, 0.05, 7)
    schema = differences_schema(3)
    structured = sampling_params(vllm, {**REQUEST, "json_schema": schema}).structured_outputs
    assert isinstance(structured, vllm.sampling_params.StructuredOutputsParams) and structured.json == schema
    assert sampling_params(vllm, REQUEST, logprobs=20).logprobs == 20


def test_scoring_parameters_ask_for_what_the_distribution_needs():
    model = scoring_params(vllm, {**REQUEST, "temperature": 1.0, "top_p": 1.0, "logprobs": "sampling"})
    assert model.prompt_logprobs == 0 and model.max_tokens == 1
    tempered = scoring_params(vllm, {**REQUEST, "logprobs": "sampling"})
    assert tempered.prompt_logprobs == -1 and tempered.flat_logprobs
    assert scoring_params(vllm, {**REQUEST, "logprobs": "model"}).prompt_logprobs == 0


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (0.5, 0, 0.9), (1.3, 20, 1.0),
                                                     (0.7, 50, 0.8), (2.0, 0, 0.5)])
def test_vllm_logprobs_equal_vllms_own_sampler_code(temperature, top_k, top_p):
    from vllm.v1.sample.ops.topk_topp_sampler import apply_top_k_top_p_pytorch

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(4, 1000))
    ours = np.stack([vllm_logprobs(row, Sampling(temperature, top_p, top_k)) for row in logits])
    tempered = torch.tensor(logits / temperature)  # vLLM's Sampler.apply_temperature
    k = torch.full((4,), top_k) if top_k else None
    p = torch.full((4,), top_p, dtype=torch.float64) if top_p < 1 else None
    theirs = torch.log_softmax(apply_top_k_top_p_pytorch(tempered, k, p), dim=-1).numpy()
    assert np.array_equal(np.isinf(ours), np.isinf(theirs))
    finite = np.isfinite(ours)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-9, atol=1e-9)
