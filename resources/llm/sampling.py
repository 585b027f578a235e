"""The distribution a policy samples from, as log-probabilities over the vocabulary.

An importance weight is a ratio of the probabilities of the distributions that produced and that
would produce a text, so a policy's log-probabilities must be those of its sampling distribution:
the temperature and the truncations (top-k, top-p, min-p) applied and renormalised, with -inf for
a token the policy can never sample. The model's own (temperature-1) log-probabilities are right
only for a policy that samples at temperature 1 without truncation.

`llamacpp_logprobs` follows llama-cpp-python's sampler chain exactly (`Llama._init_sampler`):
top-k, then top-p on the softmax of the remaining logits, then min-p (logit >= max + log min_p),
then the temperature on what is left. The truncations are decided at temperature 1, unlike vLLM
and Hugging Face, which divide by the temperature first. Checked against llama.cpp's raw logits
and against its sampler's own draws in tests/test_sampling_logprobs.py.

`vllm_logprobs` follows vLLM's v1 sampler: the temperature first, then min-p (probability >= min_p
x the largest), top-k, and top-p (drop the least likely tokens whose cumulative probability is at
most 1 - top_p, keeping at least one), all on the tempered distribution. Checked against vLLM's own
torch functions in tests/vllm_contract/.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float = 1.0
    top_k: int = 0      # 0: off
    min_p: float = 0.0  # 0: off

    @classmethod
    def of(cls, request: dict) -> "Sampling":
        return cls(request["temperature"], request["top_p"], request.get("top_k", 0), request.get("min_p", 0.0))

    @property
    def is_model_distribution(self) -> bool:
        """Whether the model's own log-probabilities are this distribution's."""
        return self.temperature == 1 and self.top_p >= 1 and self.top_k <= 0 and self.min_p <= 0

    def describe(self) -> str:
        parts = [f"temperature {self.temperature:g}", f"top_p {self.top_p:g}"]
        parts += [f"top_k {self.top_k}"] if self.top_k > 0 else []
        parts += [f"min_p {self.min_p:g}"] if self.min_p > 0 else []
        return ", ".join(parts)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    top = logits.max()
    return logits - (top + np.log(np.exp(logits - top).sum()))


def llamacpp_logprobs(logits: np.ndarray, sampling: Sampling) -> np.ndarray:
    """Log-probabilities of the next token under llama.cpp's sampler chain; -inf where excluded."""
    logits = np.asarray(logits, dtype=np.float64)
    if sampling.temperature == 0:  # greedy: the most likely token, always
        out = np.full(logits.shape, -np.inf)
        out[int(np.argmax(logits))] = 0.0
        return out
    keep = np.ones(logits.shape, dtype=bool)
    if 0 < sampling.top_k < len(logits):
        keep[np.argsort(-logits, kind="stable")[sampling.top_k:]] = False
    if sampling.top_p < 1:
        kept = np.flatnonzero(keep)
        order = kept[np.argsort(-logits[kept], kind="stable")]
        cumulative = np.cumsum(np.exp(log_softmax(logits[order])))
        last = min(int(np.searchsorted(cumulative, sampling.top_p)), len(order) - 1)  # first with cum >= p
        keep[:] = False
        keep[order[: last + 1]] = True
    if sampling.min_p > 0:
        keep &= logits >= logits[keep].max() + np.log(sampling.min_p)
    out = np.full(logits.shape, -np.inf)
    out[keep] = log_softmax(logits[keep] / sampling.temperature)
    return out


def vllm_logprobs(logits: np.ndarray, sampling: Sampling) -> np.ndarray:
    """Log-probabilities of the next token under vLLM's sampler chain; -inf where excluded.
    `logits` may be log-probabilities: the chain is the same up to a constant."""
    logits = np.asarray(logits, dtype=np.float64)
    if sampling.temperature == 0:
        return llamacpp_logprobs(logits, sampling)  # greedy is greedy in both
    tempered = logits / sampling.temperature
    keep = np.isfinite(tempered)
    if sampling.min_p > 0:
        probs = np.exp(log_softmax(tempered))
        keep &= probs >= probs.max() * sampling.min_p
    if 0 < sampling.top_k < keep.sum():
        kth = np.sort(tempered[keep])[-sampling.top_k]
        keep &= tempered >= kth
    if sampling.top_p < 1:
        kept = np.flatnonzero(keep)
        order = kept[np.argsort(tempered[kept], kind="stable")]  # least likely first, as vLLM sorts
        cumulative = np.cumsum(np.exp(log_softmax(tempered[order])))
        drop = cumulative <= 1 - sampling.top_p
        drop[-1] = False
        keep[order[drop]] = False
    out = np.full(logits.shape, -np.inf)
    out[keep] = log_softmax(tempered[keep])
    return out
