"""Any OpenAI-compatible endpoint: OpenAI itself, a vLLM server, llama.cpp's server.

Retries with exponential backoff on connection errors, 408, 409, 429 and 5xx are the `openai`
client's own (`max_retries`); after them the call fails with the server's message. A prompt over
the server's context window is cut (longest message first) and flagged `truncated`: the window
and the prompt's size are read from the server's error, since there is no tokenizer on this side.
"""

from __future__ import annotations

import math
import re
import threading
from typing import Any

from resources.llm.json_schema import without_string_lengths
from resources.llm.secrets import server_key
from resources.llm.truncate import fit_messages
from resources.llm.types import CapabilityError, LLMConfigError
from resources.settings_models import OpenAISettings

# OpenAI, vLLM and llama.cpp's server all say "maximum context length is N tokens"; the prompt's
# size follows as "(P in the messages" (vLLM, llama.cpp) or "messages resulted in P tokens" (OpenAI)
CONTEXT_WINDOW = re.compile(r"maximum context length is (\d+) tokens")
PROMPT_SIZE = re.compile(r"(\d+) in the messages|messages resulted in (\d+) tokens")

SCORING_BACKENDS = ("llamacpp", "vllm", "openai with a vLLM or llama.cpp server (echo + logprobs)")


class OpenAIBackend:
    name = "openai"
    gives_logprobs = True
    scores_sampling = False  # echo gives the model's temperature-1 log-probabilities only

    def __init__(self, model: str, settings: OpenAISettings, base_url: str = "", key_env: str = "OPENAI_API_KEY",
                 chat_template: Any = None):
        import openai

        # the key named beside this base_url, and no other (resources/llm/secrets.py)
        key = server_key("openai", base_url, key_env, "api.openai.com")
        self.model, self.base_url = model, base_url
        self.max_workers = settings.max_workers
        self.client = openai.OpenAI(api_key=key or "no-key", base_url=base_url or None,
                                    max_retries=settings.max_retries, timeout=settings.timeout_s)
        self._openai = openai
        self.chat_template = chat_template  # renders prompts for scoring given text; None: cannot
        self._checked = False
        self._json_mode = "json_schema"  # OpenAI and vLLM; llama.cpp's server wants json_object
        self._string_lengths = True  # maxLength/minLength in schemas, until a server refuses them
        self._lock = threading.Lock()

    def _check_model(self) -> None:
        """Fail with the list of served models when the model is not among them."""
        with self._lock:
            if self._checked:
                return
            try:
                served = [m.id for m in self.client.models.list()]
            except self._openai.NotFoundError:
                served = []  # the server does not list models: let the call itself answer
            if served and self.model not in served:
                raise LLMConfigError(f"openai backend: model {self.model!r} is not served at "
                                     f"{self.client.base_url}; served models: {', '.join(served)}")
            self._checked = True

    def _response_format(self, schema: dict) -> dict:
        if self._json_mode == "json_schema":
            return {"type": "json_schema",
                    "json_schema": {"name": "output", "schema": schema, "strict": True}}
        return {"type": "json_object", "schema": schema}

    def _complete(self, request: dict[str, Any], **extra: Any):
        """(completion, truncated): the prompt is cut to the server's window when it says it is over."""
        messages, truncated = request["messages"], False
        for _ in range(4):  # the size estimate from characters can be off: re-cut if still over
            try:
                return self._create({**request, "messages": messages}, **extra), truncated
            except self._openai.BadRequestError as exc:
                window, prompt_tokens = CONTEXT_WINDOW.search(str(exc)), PROMPT_SIZE.search(str(exc))
                if not window or not prompt_tokens:
                    raise
                window, prompt_tokens = int(window[1]), int(prompt_tokens[1] or prompt_tokens[2])
                tokens_per_char = prompt_tokens / max(1, sum(len(m["content"]) for m in messages))
                answer = min(request["max_tokens"], window // 2)  # as the llama.cpp backend
                request = {**request, "max_tokens": answer}
                messages, truncated = fit_messages(
                    messages, lambda ms: math.ceil(1.05 * tokens_per_char * sum(len(m["content"]) for m in ms)),
                    window - answer)
        raise ValueError(f"openai backend: the prompt still exceeds {self.client.base_url}'s context window "
                         "after cutting it 4 times")

    def _create(self, request: dict[str, Any], **extra: Any):
        self._check_model()
        kwargs = dict(model=self.model, messages=request["messages"],
                      temperature=request["temperature"], top_p=request["top_p"],
                      max_tokens=request["max_tokens"], seed=request["seed"], **extra)
        # vLLM and llama.cpp's server take these beside OpenAI's parameters; OpenAI refuses them
        truncations = {k: request[k] for k in ("top_k", "min_p") if request.get(k)}
        if truncations:
            kwargs["extra_body"] = truncations
        if "json_schema" not in request:
            return self.client.chat.completions.create(**kwargs)
        while True:  # each refusal below switches a mode once, so this ends
            schema = request["json_schema"] if self._string_lengths else without_string_lengths(request["json_schema"])
            try:
                return self.client.chat.completions.create(**kwargs, response_format=self._response_format(schema))
            except self._openai.APIStatusError as exc:
                if self._json_mode == "json_schema" and "json_object" in str(exc):
                    # llama.cpp's server refuses type json_schema (with a 500) and names json_object
                    self._json_mode = "json_object"  # {"type": "json_object", "schema": ...}
                elif self._string_lengths and ("maxLength" in str(exc) or "minLength" in str(exc)):
                    # strict structured outputs that do not take string lengths name the keyword
                    self._string_lengths = False
                else:
                    raise

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        out, truncated = self._complete(request)
        choice = out.choices[0]
        return {"text": choice.message.content or "", "finish_reason": choice.finish_reason,
                "prompt_tokens": out.usage.prompt_tokens if out.usage else None,
                "completion_tokens": out.usage.completion_tokens if out.usage else None,
                "truncated": truncated}

    def choice(self, request: dict[str, Any]) -> dict[str, Any]:
        out, truncated = self._complete(request, logprobs=True, top_logprobs=20)
        content = out.choices[0].logprobs.content if out.choices[0].logprobs else None
        if not content:
            raise CapabilityError(f"openai backend: {self.client.base_url} returned no logprobs")
        top = [(t.token, t.logprob) for t in content[0].top_logprobs]
        logprobs: dict[str, float | None] = {}
        for option in request["options"]:
            # a tokenizer may give "A" or " A"; the best-scoring spelling stands for the option
            seen = [lp for tok, lp in top if tok.strip() == option]
            logprobs[option] = max(seen) if seen else None
        return {"logprobs": logprobs, "top": [list(t) for t in top],
                "prompt_tokens": out.usage.prompt_tokens if out.usage else None,
                "completion_tokens": 1, "truncated": truncated}

    def score(self, request: dict[str, Any]) -> dict[str, Any]:
        """Teacher forcing over HTTP: a legacy completion of prompt+response with echo=True."""
        if self.chat_template is None:
            raise CapabilityError(
                "openai backend: scoring given text needs the model's chat template on this side "
                f"(set chat_template for the role); backends that score text: {', '.join(SCORING_BACKENDS)}"
            )
        self._check_model()
        prompt = self.chat_template(request["messages"])
        try:
            out = self.client.completions.create(model=self.model, prompt=prompt + request["response"],
                                                 echo=True, logprobs=1, max_tokens=1, temperature=0)
        except (self._openai.BadRequestError, self._openai.NotFoundError) as exc:
            raise CapabilityError(
                f"openai backend: {self.client.base_url} cannot score given text ({exc}); "
                f"backends that can: {', '.join(SCORING_BACKENDS)}"
            ) from exc
        lp = out.choices[0].logprobs
        if lp is None or not lp.token_logprobs:
            raise CapabilityError(f"openai backend: {self.client.base_url} returned no prompt "
                                  f"logprobs; backends that can: {', '.join(SCORING_BACKENDS)}")
        # Servers differ in what they echo (llama.cpp drops the first token and writes special
        # tokens as ""), so read from the end: drop the generated token, then take the shortest
        # run of tokens that spells the response.
        response = request["response"]
        tokens, logprobs = list(lp.tokens), list(lp.token_logprobs)
        full = prompt + response
        generated = out.choices[0].text[len(full):] if out.choices[0].text.startswith(full) else ""
        dropped = ""
        while generated and tokens and len(dropped) < len(generated):
            dropped = tokens.pop() + dropped
            logprobs.pop()
        spelled, k = "", 0
        while k < len(tokens) and len(spelled) < len(response):
            k += 1
            spelled = tokens[-k] + spelled
        return {"tokens": tokens[len(tokens) - k:],
                "token_logprobs": [float(x) for x in logprobs[len(tokens) - k:]],
                "prompt_tokens": len(tokens) - k, "completion_tokens": k,
                "boundary_ok": spelled == response, "truncated": False}
