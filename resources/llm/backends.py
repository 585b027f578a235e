"""Pick and cache (one per process) the backend object for a role's backend and model."""

from __future__ import annotations

import threading
from typing import Any, Callable, Protocol

from resources.llm.secrets import PROVIDER_KEY_ENV, key_env_for
from resources.llm.types import LLMConfigError
from resources.settings import Settings
from resources.settings_models import BACKENDS, EMBEDDED_LLM, RoleSettings


class Backend(Protocol):
    name: str
    model: str
    max_workers: int  # concurrent calls run_batch makes by default (1: one after another)
    gives_logprobs: bool  # token log-probabilities (choice, score); anthropic: none
    chat_template: Callable[[list[dict]], str] | None  # messages -> prompt text; None: unknown here

    def chat(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def choice(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def score(self, request: dict[str, Any]) -> dict[str, Any]: ...


_INSTANCES: dict[tuple, Backend] = {}
_LOCK = threading.Lock()


def _chat_template(ref: str | None):
    """A prompt renderer for the openai backend's teacher forcing (None: it cannot score text)."""
    if ref is None:
        return None
    if ref == EMBEDDED_LLM or ref.endswith(".gguf"):
        from resources.llm.backend_llamacpp import gguf_chat_template

        return gguf_chat_template(ref)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ref)
    return lambda messages: tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def server_endpoint(spec: RoleSettings, settings: Settings) -> tuple[str, str]:
    """(base_url, the environment variable whose key may go there; "" = none) for a role on a
    server backend (openai, anthropic): its own pair when it names a base_url, else
    [backends.<backend>]'s (its api_key_env, if it names one)."""
    default = PROVIDER_KEY_ENV[spec.backend]
    if spec.base_url is not None:
        return spec.base_url, key_env_for(spec.base_url, spec.api_key_env or "", default)
    shared = getattr(settings.backends, spec.backend)
    return shared.base_url, key_env_for(shared.base_url, spec.api_key_env or shared.api_key_env, default)


def get_backend(spec: RoleSettings, settings: Settings) -> Backend:
    if spec.backend not in BACKENDS:
        raise LLMConfigError(f"unknown backend {spec.backend!r}; valid: {', '.join(BACKENDS)}")
    backend_settings = getattr(settings.backends, spec.backend)
    endpoint = server_endpoint(spec, settings) if spec.backend in PROVIDER_KEY_ENV else None
    key = (spec.backend, spec.model, spec.chat_template, endpoint, backend_settings.model_dump_json())
    with _LOCK:
        if key not in _INSTANCES:
            if spec.backend == "llamacpp":
                from resources.llm.backend_llamacpp import LlamaCppBackend

                _INSTANCES[key] = LlamaCppBackend(spec.model, backend_settings)
            elif spec.backend == "openai":
                from resources.llm.backend_openai import OpenAIBackend

                _INSTANCES[key] = OpenAIBackend(spec.model, backend_settings, *endpoint,
                                                chat_template=_chat_template(spec.chat_template))
            elif spec.backend == "anthropic":
                from resources.llm.backend_anthropic import AnthropicBackend

                _INSTANCES[key] = AnthropicBackend(spec.model, backend_settings, *endpoint)
            else:
                from resources.llm.backend_vllm import VLLMBackend

                _INSTANCES[key] = VLLMBackend(spec.model, backend_settings)
        return _INSTANCES[key]
