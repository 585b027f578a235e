"""The vllm backend on a real engine (`make test-gpu VIBESCOPE_VLLM_MODEL=<HF id or path>`): skipped
with one line where there is no CUDA device, no vllm or no model named."""

import os

import numpy as np
import pytest

vllm = pytest.importorskip("vllm", reason="vllm is not installed: `make test-vllm` makes a venv with it")
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device: the vllm backend's engine tests need a GPU", allow_module_level=True)
MODEL = os.environ.get("VIBESCOPE_VLLM_MODEL")
if not MODEL:
    pytest.skip("VIBESCOPE_VLLM_MODEL is not set: name a small chat model (HF id or local path)",
                allow_module_level=True)

from resources.llm.backend_vllm import VLLMBackend, sampling_params  # noqa: E402
from resources.llm.cache import CallCache  # noqa: E402
from resources.llm.resource import RoleClient  # noqa: E402
from resources.settings import Settings  # noqa: E402
from resources.settings_models import RoleSettings, VLLMSettings  # noqa: E402

SCHEMA = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}


@pytest.fixture(scope="module")
def backend():
    return VLLMBackend(MODEL, VLLMSettings(max_model_len=2048, gpu_memory_utilization=0.5))


def client(backend, tmp_path, **spec) -> RoleClient:
    role = RoleSettings.model_construct(**{**RoleSettings().model_dump(), "backend": "vllm", "model": MODEL, **spec})
    return RoleClient("policy.test", role, backend, CallCache(tmp_path / "cache.sqlite"), Settings())


def test_chat_json_choice_and_one_engine_call_for_a_batch(backend, tmp_path):
    c = client(backend, tmp_path, max_tokens=32)
    assert c.chat_json([{"role": "user", "content": "Name a colour as JSON."}], SCHEMA).ok
    verdict = c.choice_logprobs([{"role": "user", "content": "Answer A or B."}])
    assert any(v is not None for v in verdict.logprobs.values())
    before = backend.engine_calls
    replies = c.run_batch([{"method": "chat", "messages": [{"role": "user", "content": f"Count to {i}."}]}
                           for i in range(16)])
    assert all(r.text for r in replies) and backend.engine_calls - before <= 2  # batched, not 16 calls


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.9)])
def test_teacher_forcing_equals_the_sampled_log_probabilities(backend, tmp_path, temperature, top_p):
    """A sampled response, scored again under the same sampling: the same per-token log-probabilities
    (the engine reports the processed ones while sampling; scoring applies vllm_logprobs)."""
    request = {"temperature": temperature, "top_p": top_p, "top_k": 0, "min_p": 0.0, "max_tokens": 24, "seed": 3}
    messages = [{"role": "user", "content": "Say something about rivers."}]
    out = backend._generate(backend.chat_template(messages), sampling_params(vllm, request, logprobs=0))
    gen = out.outputs[0]
    sampled = [step[t].logprob for step, t in zip(gen.logprobs, gen.token_ids)]
    scored = client(backend, tmp_path, temperature=temperature, top_p=top_p).score_sequence(messages, gen.text)
    if not scored.boundary_ok:
        pytest.skip("the response re-tokenizes differently at the prompt boundary")
    np.testing.assert_allclose(scored.token_logprobs[:len(sampled)], sampled, atol=2e-2)
