"""The Dagster concurrency pool of steps that run a model on this machine.

Two llama.cpp (or torch) steps at once on a 2-core machine do not run twice as fast: they fight
for the cores and the memory bus, and each runs 2-3x slower (measured in the README). So every
step that runs a local model (llama.cpp in process, vLLM offline, hidden states, embeddings)
takes the pool `local_model`, whose limit the instance config applies (dagster_instance.yaml,
default 1): such steps queue while SQL and I/O steps run beside them. A role on a remote backend
(any OpenAI-compatible URL) takes no slot.
"""

from __future__ import annotations

from resources.settings import load_settings

LOCAL_MODEL_POOL = "local_model"
LOCAL_BACKENDS = ("llamacpp", "vllm")


def model_pool(*roles: str, local: bool = False) -> str | None:
    """`local_model` if the step runs a model here (`local`: embeddings or hidden states) or one
    of `roles` is on a local backend; "policy.*" means every policy role, "*" every role."""
    if local:
        return LOCAL_MODEL_POOL
    settings = load_settings()
    backends = set()
    for role in roles:
        if role.endswith("*"):
            prefix = role[:-1]
            backends |= {spec.backend for name, spec in settings.roles.items() if name.startswith(prefix)}
        elif role in settings.roles:
            backends.add(settings.roles[role].backend)
    return LOCAL_MODEL_POOL if backends & set(LOCAL_BACKENDS) else None
