"""vLLM's offline engine, for GPU machines. Imported only when a role names backend "vllm"."""

from __future__ import annotations

import threading
from typing import Any

from resources.llm.types import LLMConfigError
from resources.settings import VLLMSettings


class VLLMBackend:
    name = "vllm"
    max_workers = 1  # the engine batches internally; run_batch goes through generate_many
    scores_sampling = False  # prompt log-probabilities are the model's own (temperature 1)

    def __init__(self, model: str, settings: VLLMSettings):
        try:
            import vllm
        except ImportError as exc:
            raise LLMConfigError(
                "backend 'vllm' needs the vllm package and a GPU: pip install -e '.[vllm]' on a "
                "GPU machine, or use backend 'openai' with a vLLM server's base_url"
            ) from exc
        self.model = model
        self._vllm = vllm
        self.engine = vllm.LLM(model=model, tensor_parallel_size=settings.tensor_parallel_size,
                               max_model_len=settings.max_model_len, dtype=settings.dtype,
                               gpu_memory_utilization=settings.gpu_memory_utilization)
        self.tokenizer = self.engine.get_tokenizer()
        self.max_model_len = settings.max_model_len
        self.lock = threading.Lock()

    def chat_template(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _params(self, request: dict[str, Any], **extra: Any):
        kwargs: dict[str, Any] = dict(temperature=request["temperature"], top_p=request["top_p"],
                                      max_tokens=request["max_tokens"], seed=request["seed"], **extra)
        kwargs.update({k: request[k] for k in ("top_k", "min_p") if request.get(k)})
        if "json_schema" in request:
            guided = self._vllm.sampling_params.GuidedDecodingParams(json=request["json_schema"])
            kwargs["guided_decoding"] = guided
        return self._vllm.SamplingParams(**kwargs)

    def _generate(self, prompt: str, params):
        with self.lock:
            return self.engine.generate([prompt], params, use_tqdm=False)[0]

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        out = self._generate(self.chat_template(request["messages"]), self._params(request))
        gen = out.outputs[0]
        return {"text": gen.text, "finish_reason": gen.finish_reason,
                "prompt_tokens": len(out.prompt_token_ids), "completion_tokens": len(gen.token_ids),
                "truncated": False}

    def choice(self, request: dict[str, Any]) -> dict[str, Any]:
        out = self._generate(self.chat_template(request["messages"]), self._params(request, logprobs=20))
        first = out.outputs[0].logprobs[0]
        top = sorted(((lp.decoded_token, lp.logprob) for lp in first.values()), key=lambda t: -t[1])
        logprobs = {}
        for option in request["options"]:
            seen = [lp for tok, lp in top if tok.strip() == option]
            logprobs[option] = max(seen) if seen else None
        return {"logprobs": logprobs, "top": [list(t) for t in top],
                "prompt_tokens": len(out.prompt_token_ids), "completion_tokens": 1, "truncated": False}

    def score(self, request: dict[str, Any]) -> dict[str, Any]:
        prompt = self.chat_template(request["messages"])
        prompt_ids = self.tokenizer.encode(prompt, add_special_tokens=False)
        response_ids = self.tokenizer.encode(request["response"], add_special_tokens=False)
        ids = prompt_ids + response_ids
        params = self._vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0)
        with self.lock:
            out = self.engine.generate([{"prompt_token_ids": ids}], params, use_tqdm=False)[0]
        lps = out.prompt_logprobs[len(prompt_ids):]
        token_lp = [float(step[t].logprob) for step, t in zip(lps, response_ids)]
        full = self.tokenizer.encode(prompt + request["response"], add_special_tokens=False)
        return {"tokens": [self.tokenizer.decode([t]) for t in response_ids],
                "token_logprobs": token_lp, "prompt_tokens": len(prompt_ids),
                "completion_tokens": len(response_ids), "boundary_ok": full == ids, "truncated": False}
