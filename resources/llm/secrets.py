"""Keys stay with their own host. Which key a backend may send where, and text scrubbed of keys,
credentials in URLs and Authorization headers before it is logged, cached, stored or raised.

A role (or `[backends.openai]`, `[backends.anthropic]`) names a `base_url` and the `api_key_env`
that holds its key, as a pair: a key goes only to the base URL configured beside it. OpenAI's own
API (no base_url) gets `OPENAI_API_KEY`, Anthropic's `ANTHROPIC_API_KEY`, unless the pair says otherwise; a base_url configured without an api_key_env gets
no key at all, whatever the environment holds.
"""

from __future__ import annotations

import os
import re
from typing import Iterable
from urllib.parse import urlsplit

REDACTED = "[redacted]"
URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@'\"]+(?::[^/\s@'\"]*)?@")
BEARER = re.compile(r"(?i)\bbearer\s+[^\s'\",}\]]+")
AUTH_FIELD = re.compile(r"(?i)((?:authorization|api[-_]?key|x-api-key)['\"]?\s*[:=]\s*['\"]?)(?!bearer\b)[^\s'\",}\]]+")
OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
PROVIDER_KEY_ENV = {"openai": DEFAULT_KEY_ENV, "anthropic": "ANTHROPIC_API_KEY"}


class CredentialsInURLError(ValueError):
    """A base_url that carries a user name or password."""


def check_base_url(base_url: str, where: str) -> None:
    """Refuse credentials in a URL: they would travel with every log line that names the URL."""
    if base_url and urlsplit(base_url).username is not None:
        raise CredentialsInURLError(
            f"{where}: base_url {redact(base_url)} carries credentials; put the key in an environment "
            "variable and name it with api_key_env beside the base_url")


def key_env_for(base_url: str, api_key_env: str, default: str = DEFAULT_KEY_ENV) -> str:
    """The environment variable whose key may go to `base_url` ("" = send none); `default`: the
    provider's own variable, for its own API (no base_url)."""
    if api_key_env:
        return api_key_env
    return "" if base_url else default


def server_key(provider: str, base_url: str, key_env: str, host: str) -> str | None:
    """The key a server backend sends to `base_url` (None: send none), or a clear error naming the
    variable that should hold it."""
    from resources.llm.types import LLMConfigError

    key = os.environ.get(key_env) if key_env else None
    if key_env and not key:
        raise LLMConfigError(f"{provider} backend: no API key for {base_url or host}; set the environment "
                             f"variable {key_env} (or name another with api_key_env beside a base_url)")
    return key


def known_secrets(extra_env: Iterable[str] = ()) -> list[str]:
    """Values of every environment variable that may hold a key, to scrub from text."""
    names = {*PROVIDER_KEY_ENV.values(), *extra_env, *(n for n in os.environ if n.endswith(("_API_KEY", "_TOKEN")))}
    return sorted({os.environ[n] for n in names if len(os.environ.get(n, "")) >= 6}, key=len, reverse=True)


def redact(text, secrets: Iterable[str] | None = None):
    """`text` without keys, URL credentials or Authorization values (non-strings pass through)."""
    if not isinstance(text, str) or not text:
        return text
    for secret in known_secrets() if secrets is None else secrets:
        text = text.replace(secret, REDACTED)
    text = URL_CREDENTIALS.sub(rf"\1{REDACTED}@", text)
    text = BEARER.sub(f"Bearer {REDACTED}", text)
    text = AUTH_FIELD.sub(rf"\1{REDACTED}", text)
    return OPENAI_KEY.sub(f"sk-{REDACTED}", text)
