"""The `llm` resource: chat, JSON, choice log-probabilities and teacher forcing, cached and logged."""

from resources.llm.resource import LLM, RoleClient
from resources.llm.types import (
    CapabilityError, ChoiceLogprobs, Completion, JsonResult, LLMBackendError, LLMConfigError,
    SequenceScore,
)

__all__ = ["LLM", "RoleClient", "CapabilityError", "ChoiceLogprobs", "Completion", "JsonResult",
           "LLMBackendError", "LLMConfigError", "SequenceScore"]
