"""Batch files: an asset's LLM requests in the OpenAI Batch API format, answered by a provider's
batch API (OpenAI's Batch API, Anthropic's Message Batches: resources/llm/batch_providers.py) or by
the role's own local backend, then ingested into the call cache.

One file per asset, role and model (and tag: the acts model and layer), in `<cache folder>/batches/`:

    arena.battle_differences__describer__gpt-4o-mini.jsonl   every request of the asset's last run
    ....meta.json            role, backend, model; requests by custom_id; submissions; failed lines
    ....submit-<n>.jsonl     what submission n sent; ....submit-<n>.{output,errors,results}.jsonl what came back

The lifecycle (`vibescope batch write | submit | status | ingest | run-locally | list`):
    write        the asset, materialized with `batches: true`, writes its file and stops while any
                 answer is missing; writing again keeps every submission's batch id
    submit       sends the unanswered requests as a batch, keeps its id in the metadata
    status       per file: requested, answered, failed, in flight, pending; each batch's state
    ingest       answers into the call cache, logged once at the batch price; a failed line is
                 logged with its error and stays failed until a later submission answers it
    run_locally  the pending requests on the role's own backend (llamacpp, vllm)
Materialized again, the asset reads every answer from the cache and flags failed lines as errors
of their rows, as it flags answers that do not parse.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Sequence

from resources.llm.batch_providers import openai_line, provider
from resources.llm.cache import CallCache
from resources.llm.resource import RoleClient
from resources.llm.types import JsonResult, LLMBackendError, LLMConfigError



def file_name(client: RoleClient, tag: str = "") -> str:
    """`<asset>__<role>__<model>[__<tag>].jsonl`, safe as a file name."""
    parts = [(client.asset or "adhoc").replace("/", "."), client.role, client.backend.model, tag]
    return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "_", p) for p in parts if p) + ".jsonl"


def meta_path(path: Path) -> Path:
    return path.with_suffix(".meta.json")


def _write_atomic(path: Path, text: str) -> None:
    (tmp := path.with_name(path.name + ".tmp")).write_text(text)
    os.replace(tmp, path)


def _save(path: Path, meta: dict[str, Any]) -> None:
    _write_atomic(meta_path(path), json.dumps(meta, indent=1))


def _canonical(client: RoleClient, req: dict[str, Any]) -> dict[str, Any]:
    req = dict(req)
    method = req.pop("method", "chat")
    if method not in ("chat", "chat_json"):
        raise LLMConfigError(f"batch files hold chat and chat_json requests, not {method!r}")
    schema = req.pop("schema", None)
    request = client.build_request("chat", req.pop("messages"), req)
    if method == "chat_json":
        request["json_schema"] = schema
    return request


def load(client: RoleClient, path: str | Path) -> dict[str, Any]:
    """The file's metadata; refused when the role now runs another backend or model."""
    path = Path(path)
    if not meta_path(path).exists():
        raise FileNotFoundError(f"{meta_path(path)}: the batch's metadata file is missing")
    meta = json.loads(meta_path(path).read_text())
    if (meta["backend"], meta["model"]) != (client.backend.name, client.backend.model):
        raise LLMConfigError(f"{path} was written for {meta['backend']}:{meta['model']}, but role "
                             f"'{client.role}' now runs {client.backend.name}:{client.backend.model}")
    return meta


def write_requests(client: RoleClient, requests: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write the asset's requests (each distinct one once) and merge the metadata: submissions,
    failed lines and the requests they sent are kept, so re-materializing loses no batch."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = load(client, path) if meta_path(path).exists() else {
        "asset": client.asset, "role": client.role, "backend": client.backend.name, "model": client.backend.model,
        "created_at": time.time(), "requests": {}, "submissions": [], "failed": {}}
    current: dict[str, dict[str, Any]] = {}
    for req in requests:
        request = _canonical(client, req)
        current.setdefault(client.cache_key(request), request)
    sent = {key for sub in meta["submissions"] for key in sub["keys"]}
    meta["requests"] = {**{k: v for k, v in meta["requests"].items() if k in sent}, **current}
    meta["current"] = list(current)
    _write_atomic(path, "".join(openai_line(k, client.backend.model, r) for k, r in current.items()))
    _save(path, meta)
    return path


def _in_flight(meta: dict[str, Any]) -> set[str]:
    return {key for sub in meta["submissions"] if not sub["ingested"] for key in sub["keys"]}


def tally(cache: CallCache, meta: dict[str, Any]) -> dict[str, int]:
    """Of the asset's current requests: answered, failed (and not answered since), in flight, pending."""
    current = meta["current"]
    answered = {key for key in current if cache.get(key) is not None}
    flying = (_in_flight(meta) & set(current)) - answered
    failed = {k for k in current if k in meta["failed"]} - answered - flying
    return {"requested": len(current), "answered": len(answered), "failed": len(failed),
            "in_flight": len(flying), "pending": len(current) - len(answered | failed | flying)}


def counts(client: RoleClient, path: str | Path) -> dict[str, int]:
    return tally(client.cache, load(client, path))


def submit(client: RoleClient, path: str | Path) -> str | None:
    """Send the requests that are neither answered nor in flight as a batch of the role's provider;
    its id is kept in the metadata. None when there is nothing to send."""
    path = Path(path)
    meta = load(client, path)
    api = provider(client)
    flying = _in_flight(meta)
    keys = [k for k in meta["current"] if k not in flying and client.cache.get(k) is None]
    if not keys:
        return None
    n = len(meta["submissions"]) + 1
    batch_id, extra = api.create(path.with_suffix(f".submit-{n}.jsonl"), {k: meta["requests"][k] for k in keys})
    meta["submissions"].append({"n": n, "batch_id": batch_id, "keys": keys, "submitted_at": time.time(),
                                "ingested": False, **extra})
    for key in keys:  # sent again: no longer failed, but in flight
        meta["failed"].pop(key, None)
    _save(path, meta)
    return batch_id


def status(client: RoleClient, path: str | Path) -> dict[str, Any]:
    """`counts` and, for each submission, the provider's state and request counts."""
    path = Path(path)
    meta = load(client, path)
    batches = []
    for sub in meta["submissions"]:
        row = {"n": sub["n"], "batch_id": sub["batch_id"], "requests": len(sub["keys"]), "state": sub["state"],
               "ingested": sub["ingested"]}
        if not sub["ingested"]:
            row["state"], provider_counts = provider(client).state(sub["batch_id"])
            sub["state"] = row["state"]
            if provider_counts is not None:
                row["provider_counts"] = provider_counts
        batches.append(row)
    _save(path, meta)
    return {**counts(client, path), "batches": batches}


def ingest(client: RoleClient, path: str | Path) -> dict[str, int]:
    """Bring in every finished submission's answers: into the cache (one call logged each, at the
    batch price), failures logged with their error and kept as failed lines. Counts: ok, failed,
    unknown (a line naming no request of the metadata), still_running (batches)."""
    path = Path(path)
    meta = load(client, path)
    api = provider(client)
    done = {"ok": 0, "failed": 0, "unknown": 0, "still_running": 0}
    for sub in meta["submissions"]:
        if sub["ingested"]:
            continue
        sub["state"], _ = api.state(sub["batch_id"])
        if sub["state"] not in api.finished_states:
            done["still_running"] += 1
            continue
        seen = set()
        for key, out, why in api.answers(sub["batch_id"], path.with_suffix(f".submit-{sub['n']}")):
            if not isinstance(key, str) or key not in meta["requests"]:
                done["unknown"] += 1
                continue
            seen.add(key)
            done[_record(client, meta, key, out, why or "", sub["batch_id"])] += 1
        for key in set(sub["keys"]) - seen:  # an expired or cancelled batch leaves lines unanswered
            done[_record(client, meta, key, None, f"no answer: batch {sub['state']}", sub["batch_id"])] += 1
        sub["ingested"] = True
    _save(path, meta)
    return done


def _record(client: RoleClient, meta: dict[str, Any], key: str, out: dict[str, Any] | None, why: str,
            batch_id: str) -> str:
    event = dict(asset=meta.get("asset"), role=client.role, backend=client.backend.name, model=client.backend.model,
                 kind="chat", request_hash=key, latency_s=None, cached=0)
    if out is None:
        meta["failed"][key] = why
        client.cache.log(**event, error=f"batch {batch_id}: {why}")
        return "failed"
    client.cache.put(key, client.backend.name, client.backend.model, meta["requests"][key], out)
    meta["failed"].pop(key, None)
    client.cache.log(**event, prompt_tokens=out["prompt_tokens"], completion_tokens=out["completion_tokens"],
                     cost_usd=client.cost(out, batch=True))
    return "ok"


def run_locally(client: RoleClient, path: str | Path) -> dict[str, int]:
    """Answer the pending requests on the role's own backend (each call cached and logged as a live
    call is); a request that fails is kept as a failed line. Counts: ok, failed."""
    path = Path(path)
    meta = load(client, path)
    done = {"ok": 0, "failed": 0}
    for key in meta["current"]:
        if client.cache.get(key) is not None:
            continue
        try:
            client.call(meta["requests"][key])
            meta["failed"].pop(key, None)
            done["ok"] += 1
        except LLMBackendError as exc:  # already logged with its error by `call`
            meta["failed"][key] = str(exc)
            done["failed"] += 1
    _save(path, meta)
    return done


def _from_cache(client: RoleClient, req: dict[str, Any], failed: dict[str, str]) -> Any:
    """The asset's result for one request, without calling the backend: the cached answer (no
    retry: a retry would be a live call), or the failed line as the row's error."""
    req = dict(req)
    method = req.pop("method", "chat")
    key = client.cache_key(_canonical(client, {"method": method, **req}))
    if client.cache.get(key) is None:
        if method == "chat_json":
            return JsonResult(value=None, raw="", error=f"batch line failed: {failed[key]}")
        raise LLMBackendError(f"role '{client.role}': batch line {key[:12]} failed: {failed[key]}")
    if method == "chat_json":
        return client.chat_json(retries=0, **req)
    return client.chat(**req)


def run(client: RoleClient, requests: Sequence[dict[str, Any]], folder: Path, batches: bool,
        max_workers: int = 0, tag: str = "", progress=None) -> list[Any]:
    """What assets call: `client.run_batch(requests)` (`progress` called per answer), or with
    `batches` the batch file's answers, stopping (raising) while any request is neither answered
    nor failed."""
    if not batches:
        return client.run_batch(requests, max_workers, progress)
    path = write_requests(client, requests, folder / file_name(client, tag))
    left = counts(client, path)
    if left["pending"] or left["in_flight"]:
        raise RuntimeError(
            f"{left['pending'] + left['in_flight']} of {left['requested']} requests wait for their batch "
            f"({left['in_flight']} in flight): {path}. `vibescope batch submit` (or `run-locally`), then "
            "`vibescope batch ingest`, and materialize again")
    failed = load(client, path)["failed"]
    return [_from_cache(client, r, failed) for r in requests]
