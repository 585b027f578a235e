"""Anthropic's Messages API (the `anthropic` SDK): chat and JSON; no log-probabilities.

Retries with exponential backoff on connection errors, 408, 409, 429, 529 (overloaded) and other
5xx are the client's own (`max_retries`, honouring `retry-after`). JSON goes through structured
outputs (`output_config.format`, a JSON schema). The Messages API gives no token log-probabilities,
so the classifier's A/B token and teacher forcing cannot run here: settings that put those roles on
this backend are refused when they load (resources/settings.py), and a judge on it scores in its
deterministic mode only.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from resources.llm.json_schema import without_string_lengths
from resources.llm.secrets import server_key
from resources.llm.types import CapabilityError
from resources.settings_models import AnthropicSettings

log = logging.getLogger(__name__)
SAMPLING = ("temperature", "top_p", "top_k")
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}  # as OpenAI names them
NO_LOGPROBS = ("anthropic backend: the Messages API gives no log-probabilities; roles that need them "
               "(the classifier's A/B token, teacher forcing) run on llamacpp, vllm or openai")


def message_params(model: str, request: dict[str, Any], sampling: bool = True) -> dict[str, Any]:
    """A vibescope request as Messages API parameters (live calls and Message Batches alike): system
    messages become `system`; a schema becomes structured output. `sampling`: send temperature,
    top_p and top_k (models that fix their own sampling refuse them)."""
    system = "\n\n".join(m["content"] for m in request["messages"] if m["role"] == "system")
    params: dict[str, Any] = {
        "model": model, "max_tokens": request["max_tokens"],
        "messages": [{"role": m["role"], "content": m["content"]} for m in request["messages"] if m["role"] != "system"]}
    if system:
        params["system"] = system
    if sampling:
        params["temperature"] = min(request["temperature"], 1.0)  # Anthropic's range is 0-1
        if request["top_p"] < 1:
            params["top_p"] = request["top_p"]
        if request.get("top_k"):
            params["top_k"] = request["top_k"]
    if "json_schema" in request:
        params["output_config"] = {"format": {"type": "json_schema",
                                              "schema": without_string_lengths(request["json_schema"])}}
    return params


def answer_of(message: Any) -> dict[str, Any]:
    """A Message (object or dict) as the call cache keeps an answer."""
    get = message.get if isinstance(message, dict) else lambda k, d=None: getattr(message, k, d)
    blocks = get("content") or []
    text = "".join((b.get("text") if isinstance(b, dict) else getattr(b, "text", None)) or "" for b in blocks
                   if (b.get("type") if isinstance(b, dict) else getattr(b, "type", None)) == "text")
    usage = get("usage")
    tokens = (lambda k: usage.get(k) if isinstance(usage, dict) else getattr(usage, k, None)) if usage else (lambda k: None)
    reason = get("stop_reason")
    return {"text": text, "finish_reason": STOP_REASONS.get(reason, reason),
            "prompt_tokens": tokens("input_tokens"), "completion_tokens": tokens("output_tokens"), "truncated": False}


class AnthropicBackend:
    name = "anthropic"
    scores_sampling = False
    gives_logprobs = False
    chat_template = None  # no text scoring over this API

    def __init__(self, model: str, settings: AnthropicSettings, base_url: str = "", key_env: str = "ANTHROPIC_API_KEY"):
        import anthropic

        key = server_key("anthropic", base_url, key_env, "api.anthropic.com")
        self.model, self.base_url = model, base_url
        self.max_workers = settings.max_workers
        self.client = anthropic.Anthropic(api_key=key or "no-key", base_url=base_url or None,
                                          max_retries=settings.max_retries, timeout=settings.timeout_s)
        self._anthropic = anthropic
        self._sampling = True  # temperature & co., until the model refuses them
        self._lock = threading.Lock()

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        while True:  # a refusal of the sampling parameters switches them off once, so this ends
            try:
                params = message_params(self.model, request, self._sampling)
                # the SDK's signature no longer names the sampling keys; the API still takes them
                sampling = {k: params.pop(k) for k in SAMPLING if k in params}
                return answer_of(self.client.messages.create(**params, extra_body=sampling or None))
            except self._anthropic.BadRequestError as exc:
                named = any(k in str(exc) for k in SAMPLING)
                if not (self._sampling and named):
                    raise
                with self._lock:
                    self._sampling = False
                log.warning("anthropic backend: %s refuses sampling parameters (%s); sending none from now on",
                            self.model, exc)

    def choice(self, request: dict[str, Any]) -> dict[str, Any]:
        raise CapabilityError(NO_LOGPROBS)

    def score(self, request: dict[str, Any]) -> dict[str, Any]:
        raise CapabilityError(NO_LOGPROBS)
