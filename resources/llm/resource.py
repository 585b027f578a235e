"""The `llm` resource: one interface over llama.cpp, OpenAI-compatible servers, vLLM and Anthropic, per role.

Every call goes through the call cache (keyed by backend, model and the full request) and is
logged as one row of the call log, which the asset `core/llm_calls` copies into the warehouse.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import dagster as dg
import jsonschema

from resources.llm.backends import Backend, get_backend
from resources.llm.cache import CallCache, request_hash
from resources.llm.json_schema import without_string_lengths
from resources.llm.sampling import Sampling
from resources.llm.secrets import redact
from resources.llm.types import (
    CapabilityError, ChoiceLogprobs, Completion, JsonResult, LLMBackendError, LLMConfigError, Messages, SequenceScore,
)
from resources.settings import Settings, load_settings
from resources.settings_models import RoleSettings


class RoleClient:
    """Calls for one role (describer, judge, policy.p0, ...) on its configured backend and model."""

    def __init__(self, role: str, spec: RoleSettings, backend: Backend, cache: CallCache,
                 settings: Settings, asset: str | None = None, run_id: str | None = None):
        self.role, self.spec, self.backend, self.cache = role, spec, backend, cache
        self.asset, self.run_id = asset, run_id
        price = settings.prices.get(backend.model)
        self._price = (price.input, price.output) if price else None
        paid = backend.name in ("openai", "anthropic")  # a local model costs nothing per call
        if not paid:
            self._price = (0.0, 0.0)
        self._batch_factor = getattr(settings.backends, backend.name).batch_price_factor if paid else 0.0

    # --- what the role's backend can do ------------------------------------------------------
    @property
    def chat_template(self) -> Callable[[Messages], str] | None:
        """Renders messages into the model's prompt text; None where the backend cannot (an
        OpenAI-compatible server without a `chat_template` set for the role)."""
        return self.backend.chat_template

    @property
    def gives_logprobs(self) -> bool:
        """Whether `choice_logprobs` can run (anthropic: no log-probabilities at all)."""
        return self.backend.gives_logprobs

    @property
    def can_score_text(self) -> bool:
        """Whether `score_sequence` can give the log-probabilities of a given response."""
        return self.chat_template is not None

    def sampling_logprobs_problem(self, **params: Any) -> str | None:
        """Why `score_sequence` with these parameters would not give the log-probabilities of the
        distribution the role samples from (None when it would, or when the role accepts the
        model's own knowingly with `logprobs = "model"`)."""
        request = self.build_request("score", [], params)
        sampling = Sampling.of(request)
        if self.spec.logprobs == "model" or sampling.is_model_distribution or self.backend.scores_sampling:
            return None
        return (f"role '{self.role}' samples at {sampling.describe()}, but backend {self.backend.name} gives "
                "the model's temperature-1 log-probabilities only, so importance weights would be wrong: "
                "use backend llamacpp, sample at temperature 1 with top_p 1, or accept the model's "
                f"log-probabilities knowingly with logprobs = \"model\" under [roles.{self.role}]")

    # --- the interface ----------------------------------------------------------------------
    def chat(self, messages: Messages, **params: Any) -> Completion:
        request = self.build_request("chat", messages, params)
        out, cached = self.call(request)
        return Completion(text=out["text"], prompt_tokens=out["prompt_tokens"],
                          completion_tokens=out["completion_tokens"],
                          finish_reason=out.get("finish_reason"), truncated=out["truncated"],
                          cached=cached)

    def chat_json(self, messages: Messages, schema: dict, retries: int | None = None, **params: Any) -> JsonResult:
        """JSON constrained to `schema` where the backend can, validated, retried on failure.

        A retry changes the request (seed + attempt, twice the max_tokens, since a cut-off
        output is the usual cause), so it is not answered from the cache. The final failure is
        returned with the raw text, never raised. `retries`: the role's `json_retries` unless given
        (batch results take 0: a retry would be a live call). String lengths (minLength/maxLength) steer the
        decoder but are not checked here: servers that refuse them get the schema without them.
        """
        base = self.build_request("chat", messages, params)
        base["json_schema"] = schema
        raw, error, truncated = "", None, False
        attempts = (self.spec.json_retries if retries is None else retries) + 1
        for attempt in range(attempts):
            request = dict(base)
            if attempt:
                request.update(attempt=attempt, seed=base["seed"] + attempt,
                               max_tokens=base["max_tokens"] * 2 ** attempt)
            out, _ = self.call(request)
            raw, truncated = out["text"], out["truncated"]
            try:
                value = json.loads(raw)
                jsonschema.validate(value, without_string_lengths(schema))
                return JsonResult(value=value, raw=raw, attempts=attempt + 1, truncated=truncated)
            except json.JSONDecodeError as exc:
                error = f"not JSON: {exc}"
            except jsonschema.ValidationError as exc:
                error = f"does not fit the schema: {exc.message}"
        return JsonResult(value=None, raw=raw, error=error, attempts=attempts, truncated=truncated)

    def choice_logprobs(self, messages: Messages, options: Sequence[str] = ("A", "B"),
                        **params: Any) -> ChoiceLogprobs:
        request = self.build_request("choice", messages, params)
        request.update(options=list(options), max_tokens=1)
        out, _ = self.call(request)
        return ChoiceLogprobs(logprobs=out["logprobs"], top=[tuple(t) for t in out["top"]],
                              truncated=out["truncated"])

    def score_sequence(self, messages: Messages, response: str, ended: bool = False,
                       **params: Any) -> SequenceScore:
        """Teacher forcing: log-probabilities of `response` as this role's reply, under the
        distribution it samples from (the role's temperature, top_p, top_k, min_p, or those given),
        or the model's own where the role says `logprobs = "model"`. `ended`: the response ended
        by the model's choice (not max_tokens), which is one more event of that probability."""
        problem = self.sampling_logprobs_problem(**params)
        if problem:
            raise CapabilityError(problem)
        request = self.build_request("score", messages, params)
        # the role in the request (and so in the cache key): a policy configured like another is
        # scored anew, so that comparing the two (the identical-policy check) compares two computations
        request.update(response=response, ended=ended, logprobs=self.spec.logprobs, scored_as=self.role)
        out, _ = self.call(request)
        return SequenceScore(tokens=out["tokens"], token_logprobs=out["token_logprobs"],
                             prompt_tokens=out["prompt_tokens"], boundary_ok=out["boundary_ok"],
                             truncated=out["truncated"])

    def run_batch(self, requests: Sequence[dict[str, Any]], max_workers: int = 0,
                  progress: Callable[[Any], None] | None = None) -> list[Any]:
        """Run many requests ({"method": "chat"|"chat_json"|..., **kwargs}) in order of input.

        `max_workers` at a time (0: the backend's own setting; a local model runs them one after
        another whatever is asked, as it has one model in one process); `progress` is called with
        each answer as it comes.
        """
        def run_one(req: dict[str, Any]) -> Any:
            req = dict(req)
            method = req.pop("method", "chat")
            if method not in ("chat", "chat_json", "choice_logprobs", "score_sequence"):
                raise LLMConfigError(f"run_batch: unknown method {method!r}")
            answer = getattr(self, method)(**req)
            if progress is not None:
                progress(answer)
            return answer

        workers = self.backend.max_workers
        if max_workers and self.backend.max_workers > 1:
            workers = max_workers
        if workers <= 1:
            return [run_one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(run_one, requests))

    # --- plumbing -----------------------------------------------------------------------------
    def cache_key(self, request: dict[str, Any]) -> str:
        """The call cache's key: backend, model and the whole request, and for a server its base
        URL (two servers may serve different models under one name)."""
        endpoint = getattr(self.backend, "base_url", "")
        return request_hash(self.backend.name, self.backend.model,
                            {**request, "endpoint": endpoint} if endpoint else request)

    def build_request(self, kind: str, messages: Messages, params: dict[str, Any]) -> dict[str, Any]:
        unknown = set(params) - {"temperature", "top_p", "top_k", "min_p", "max_tokens", "seed", "system_prompt"}
        if unknown:
            raise LLMConfigError(f"unknown parameter(s) {sorted(unknown)} for role '{self.role}'")
        spec = self.spec.model_copy(update=params)
        messages = [dict(m) for m in messages]
        if spec.system_prompt and not any(m.get("role") == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": spec.system_prompt})
        return {"kind": kind, "messages": messages, "temperature": spec.temperature, "top_p": spec.top_p,
                "top_k": spec.top_k, "min_p": spec.min_p, "max_tokens": spec.max_tokens, "seed": spec.seed}

    def call(self, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        key = self.cache_key(request)
        event = dict(run_id=self.run_id, asset=self.asset, role=self.role,
                     backend=self.backend.name, model=self.backend.model,
                     kind=request["kind"], request_hash=key)
        hit = self.cache.get(key)
        if hit is not None:
            self.cache.log(**event, prompt_tokens=hit.get("prompt_tokens"),
                           completion_tokens=hit.get("completion_tokens"), latency_s=0.0,
                           cost_usd=0.0, cached=1, truncated=int(hit.get("truncated", False)))
            return hit, True
        handler: Callable[[dict], dict] = getattr(self.backend, request["kind"])
        started = time.perf_counter()
        try:
            out = handler(request)
        except LLMConfigError as exc:
            raise type(exc)(redact(str(exc))) from None
        except Exception as exc:  # backend failures: log, keep what is cached, fail clearly
            # a server may echo the request's Authorization header: scrub before logging or raising,
            # and raise without the original exception, whose text would reach Dagster's event log
            error = redact(f"{type(exc).__name__}: {exc}")
            self.cache.log(**event, latency_s=time.perf_counter() - started, cached=0, error=error)
            raise LLMBackendError(
                f"role '{self.role}' on {self.backend.name}:{self.backend.model} failed: {error}") from None
        latency = time.perf_counter() - started
        self.cache.put(key, self.backend.name, self.backend.model, request, out)
        self.cache.log(**event, prompt_tokens=out.get("prompt_tokens"),
                       completion_tokens=out.get("completion_tokens"), latency_s=latency,
                       cost_usd=self.cost(out), cached=0, truncated=int(out.get("truncated", False)))
        return out, False

    def cost(self, out: dict[str, Any], batch: bool = False) -> float | None:
        """USD of one answer at [prices] (None: no price for the model); `batch`: at the provider's
        batch rate ([backends.<backend>] batch_price_factor)."""
        if self._price is None:
            return None
        usd = ((out.get("prompt_tokens") or 0) * self._price[0]
               + (out.get("completion_tokens") or 0) * self._price[1]) / 1e6
        return usd * self._batch_factor if batch else usd


class LLM(dg.ConfigurableResource):
    """LLM calls by role; backends and models per role come from dagster_project.toml."""

    settings_file: str = ""
    cache_path: str = ""

    @property
    def settings(self) -> Settings:
        return load_settings(self.settings_file or None)

    @property
    def cache(self) -> CallCache:
        return CallCache(self.cache_path or self.settings.path("cache"))

    @property
    def batches_folder(self):
        """Where batch files live: `batches/` beside the call cache."""
        return self.settings.path("cache").parent / "batches"

    def client(self, role: str, context: dg.AssetExecutionContext | None = None,
               model: str = "") -> RoleClient:
        """The role's client; `model` replaces the role's model on the same backend (run config)."""
        settings = self.settings
        spec = settings.role(role)
        if model:
            spec = spec.model_copy(update={"model": model})
        backend = get_backend(spec, settings)
        asset = run_id = None
        if context is not None:  # a multi-asset is named by its op (e.g. diff__iterations)
            keys = list(context.selected_asset_keys)
            asset = keys[0].to_user_string() if len(keys) == 1 else context.op_def.name
            run_id = context.run_id
        return RoleClient(role, spec, backend, self.cache, settings, asset=asset, run_id=run_id)
