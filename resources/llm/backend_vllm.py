"""vLLM's offline engine (pinned in the `vllm` extra), for GPU machines. Imported only when a role
names backend "vllm".

Requests made at the same time (run_batch's threads, `max_workers` of them) go to the engine as
one `generate` call, so it batches them; a lone call is a batch of one. Log-probabilities are those
of the distribution the role samples from: the engine runs with logprobs_mode "processed_logprobs"
(temperature, min-p, top-k, top-p applied) for the tokens it samples, and teacher forcing applies
the same chain (`sampling.vllm_logprobs`) to full-vocabulary prompt log-probabilities, since prompt
tokens bypass vLLM's sampler. That costs prompt length x vocabulary floats per scored request, and
only for a policy that does not sample from the model's own distribution.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any

import numpy as np

from resources.llm.sampling import Sampling, vllm_logprobs
from resources.llm.types import LLMConfigError
from resources.settings_models import VLLMSettings

BATCH_WINDOW_S = 0.005  # how long the engine thread waits for more requests before a generate call


def engine_args(model: str, settings: VLLMSettings) -> dict[str, Any]:
    """Keyword arguments of `vllm.LLM`."""
    return dict(model=model, tensor_parallel_size=settings.tensor_parallel_size,
                max_model_len=settings.max_model_len, dtype=settings.dtype,
                gpu_memory_utilization=settings.gpu_memory_utilization, max_num_seqs=settings.max_num_seqs,
                logprobs_mode="processed_logprobs", max_logprobs=-1)


def sampling_params(vllm, request: dict[str, Any], **extra: Any):
    """The `vllm.SamplingParams` of one request (structured output from its JSON schema)."""
    kwargs: dict[str, Any] = dict(temperature=request["temperature"], top_p=request["top_p"],
                                  top_k=request.get("top_k") or 0, min_p=request.get("min_p") or 0.0,
                                  max_tokens=request["max_tokens"], seed=request["seed"], **extra)
    if "json_schema" in request:
        kwargs["structured_outputs"] = vllm.sampling_params.StructuredOutputsParams(json=request["json_schema"])
    return vllm.SamplingParams(**kwargs)


def scoring_params(vllm, request: dict[str, Any]):
    """Teacher forcing: one token generated, prompt log-probabilities returned (the forced token's
    alone for the model's own distribution, the whole vocabulary otherwise)."""
    whole = not (request["logprobs"] == "model" or Sampling.of(request).is_model_distribution)
    return vllm.SamplingParams(max_tokens=1, temperature=0, prompt_logprobs=-1 if whole else 0,
                               flat_logprobs=whole)


class VLLMBackend:
    name = "vllm"
    gives_logprobs = True
    scores_sampling = True  # log-probabilities of the role's sampling distribution, both ways

    def __init__(self, model: str, settings: VLLMSettings):
        try:
            import vllm
        except ImportError as exc:
            raise LLMConfigError(
                "backend 'vllm' needs the vllm package and a GPU: pip install -e '.[vllm]' on a "
                "GPU machine, or use backend 'openai' with a vLLM server's base_url"
            ) from exc
        self.model, self._vllm = model, vllm
        self.engine = vllm.LLM(**engine_args(model, settings))
        self.tokenizer = self.engine.get_tokenizer()
        self.max_workers = settings.max_num_seqs  # run_batch's threads: as many as the engine batches
        self.engine_calls = 0  # generate calls made, however many requests each carried
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._serve, daemon=True).start()

    def chat_template(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    # --- batching: one generate call for every request waiting ----------------------------------
    def _generate(self, prompt, params):
        done: Future = Future()
        self._queue.put((prompt, params, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            waiting = [self._queue.get()]
            try:
                while True:
                    waiting.append(self._queue.get(timeout=BATCH_WINDOW_S))
            except queue.Empty:
                pass
            try:
                outs = self.engine.generate([w[0] for w in waiting], [w[1] for w in waiting], use_tqdm=False)
                self.engine_calls += 1
                for (_, _, done), out in zip(waiting, outs):
                    done.set_result(out)
            except Exception as exc:  # every caller of this batch gets the engine's error
                for _, _, done in waiting:
                    done.set_exception(exc)

    # --- calls ----------------------------------------------------------------------------
    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        out = self._generate(self.chat_template(request["messages"]), sampling_params(self._vllm, request))
        gen = out.outputs[0]
        return {"text": gen.text, "finish_reason": gen.finish_reason,
                "prompt_tokens": len(out.prompt_token_ids), "completion_tokens": len(gen.token_ids),
                "truncated": False}

    def choice(self, request: dict[str, Any]) -> dict[str, Any]:
        params = sampling_params(self._vllm, request, logprobs=20)
        out = self._generate(self.chat_template(request["messages"]), params)
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
        ended = request["ended"] and self.tokenizer.eos_token_id is not None
        ids = prompt_ids + response_ids + ([self.tokenizer.eos_token_id] if ended else [])
        params = scoring_params(self._vllm, request)
        out = self._generate({"prompt_token_ids": ids}, params)
        forced = ids[len(prompt_ids):]
        rows = list(out.prompt_logprobs)[-len(forced):] if forced else []
        if params.prompt_logprobs == 0:
            token_lp = [float(row[t].logprob) for row, t in zip(rows, forced)]
        else:
            sampling = Sampling.of(request)
            vocab = len(self.tokenizer)
            token_lp = []
            for row, t in zip(rows, forced):
                full = np.full(vocab, -np.inf)
                for token_id, lp in row.items():
                    full[token_id] = lp.logprob
                token_lp.append(float(vllm_logprobs(full, sampling)[t]))
        full_ids = self.tokenizer.encode(prompt + request["response"], add_special_tokens=False)
        return {"tokens": [self.tokenizer.decode([t]) for t in forced], "token_logprobs": token_lp,
                "prompt_tokens": len(prompt_ids), "completion_tokens": len(response_ids),
                "boundary_ok": full_ids == prompt_ids + response_ids, "truncated": False}
