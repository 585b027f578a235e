"""What the LLM resource returns, and the errors it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Messages = list[dict[str, str]]


class LLMConfigError(ValueError):
    """A role, backend or model that cannot be used; the message lists the valid ones."""


class LLMBackendError(RuntimeError):
    """The backend failed after its retries (finished calls stay cached)."""


class CapabilityError(LLMConfigError):
    """The backend cannot do what was asked (e.g. score given text); names backends that can."""


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    truncated: bool = False  # the input was cut to fit the context window
    cached: bool = False


@dataclass(frozen=True)
class JsonResult:
    """`value` when the output parsed and fit the schema; else `error` and the `raw` text."""

    value: Any
    raw: str
    error: str | None = None
    attempts: int = 1
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ChoiceLogprobs:
    """Log-probabilities of each option as the single next token (None: not among those seen)."""

    logprobs: dict[str, float | None]
    top: list[tuple[str, float]] = field(default_factory=list)  # the 20 likeliest next tokens
    truncated: bool = False

    def in_top(self, option: str) -> bool:
        return any(token.strip() == option for token, _ in self.top)

    def best(self) -> str | None:
        seen = {k: v for k, v in self.logprobs.items() if v is not None}
        return max(seen, key=seen.get) if seen else None


@dataclass(frozen=True)
class SequenceScore:
    """Per-token log-probabilities of `response` after `messages`, by teacher forcing."""

    tokens: list[str]
    token_logprobs: list[float]
    prompt_tokens: int
    boundary_ok: bool  # tokenizing prompt+response splits exactly at the prompt's last token
    truncated: bool = False

    @property
    def logprob(self) -> float:
        return float(sum(self.token_logprobs))
