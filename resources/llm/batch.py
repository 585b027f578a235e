"""Batch files in the OpenAI Batch API format, run by OpenAI or by a local executor.

    path = write_requests(client, requests, "data/batches/describe.jsonl")  # + .meta.json
    # either: OpenAI's Batch API
    batch_id = submit(client, path); ...; poll(client, path)   # writes <path>.output.jsonl
    # or: the same file on the role's local backend (llamacpp, vllm)
    run_locally(client, path)                                   # writes <path>.output.jsonl
    ingest(client, path)   # results go into the call cache

After `ingest`, the same `client.chat(...)` / `client.chat_json(...)` calls are answered from the
cache, so an asset written for live calls runs unchanged on batch results. `custom_id` is the
request's cache key.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

from resources.llm.resource import RoleClient
from resources.llm.types import LLMConfigError

ENDPOINT = "/v1/chat/completions"


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".meta.json")


def output_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".output.jsonl")


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


def _body(model: str, request: dict[str, Any]) -> dict[str, Any]:
    body = {k: request[k] for k in ("messages", "temperature", "top_p", "max_tokens", "seed")}
    body["model"] = model
    if "json_schema" in request:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "output", "schema": request["json_schema"], "strict": True}}
    return body


def write_requests(client: RoleClient, requests: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write the batch input JSONL and its metadata file (role, backend, model, each request)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"role": client.role, "backend": client.backend.name,
                            "model": client.backend.model, "created_at": time.time(), "requests": {}}
    with path.open("w") as f:
        for req in requests:
            request = _canonical(client, req)
            key = client.cache_key(request)
            if key in meta["requests"]:
                continue  # the same request twice gets one answer
            meta["requests"][key] = request
            f.write(json.dumps({"custom_id": key, "method": "POST", "url": ENDPOINT,
                                "body": _body(client.backend.model, request)}) + "\n")
    _meta_path(path).write_text(json.dumps(meta, indent=1))
    return path


def _read_meta(client: RoleClient, path: Path) -> dict[str, Any]:
    meta_file = _meta_path(path)
    if not meta_file.exists():
        raise FileNotFoundError(f"{meta_file}: the batch's metadata file is missing")
    meta = json.loads(meta_file.read_text())
    if (meta["backend"], meta["model"]) != (client.backend.name, client.backend.model):
        raise LLMConfigError(f"{path} was written for {meta['backend']}:{meta['model']}, but role "
                             f"'{client.role}' now runs {client.backend.name}:{client.backend.model}")
    return meta


def run_locally(client: RoleClient, path: str | Path) -> Path:
    """Run a batch file on the role's own backend; write OpenAI's batch output format."""
    path = Path(path)
    meta = _read_meta(client, path)
    out = output_path(path)
    with out.open("w") as f:
        for i, (key, request) in enumerate(meta["requests"].items()):
            try:
                result, _ = client.call(request)
                line = {"id": f"batch_req_{i}", "custom_id": key, "error": None, "response": {
                    "status_code": 200, "request_id": key[:16], "body": {
                        "object": "chat.completion", "model": client.backend.model,
                        "choices": [{"index": 0, "finish_reason": result.get("finish_reason"),
                                     "message": {"role": "assistant", "content": result["text"]}}],
                        "usage": {"prompt_tokens": result.get("prompt_tokens"),
                                  "completion_tokens": result.get("completion_tokens")}}}}
            except Exception as exc:  # one failed request is a failed line, as in OpenAI's output
                line = {"id": f"batch_req_{i}", "custom_id": key, "response": None,
                        "error": {"code": type(exc).__name__, "message": str(exc)}}
            f.write(json.dumps(line) + "\n")
    return out


def ingest(client: RoleClient, path: str | Path) -> dict[str, int]:
    """Put a batch output's answers into the call cache; returns counts of ok and failed lines."""
    path = Path(path)
    meta = _read_meta(client, path)
    out = output_path(path)
    if not out.exists():
        raise FileNotFoundError(f"{out}: no batch output yet (poll or run_locally first)")
    counts = {"ok": 0, "failed": 0, "unknown": 0}
    for line in out.read_text().splitlines():
        row = json.loads(line)
        request = meta["requests"].get(row["custom_id"])
        response = row.get("response") or {}
        if request is None:
            counts["unknown"] += 1
            continue
        if response.get("status_code") != 200:
            counts["failed"] += 1
            continue
        body = response["body"]
        choice, usage = body["choices"][0], body.get("usage") or {}
        client.cache.put(row["custom_id"], client.backend.name, client.backend.model, request, {
            "text": choice["message"]["content"] or "", "finish_reason": choice.get("finish_reason"),
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"), "truncated": False})
        counts["ok"] += 1
    return counts


def submit(client: RoleClient, path: str | Path) -> str:
    """Upload the file and create an OpenAI batch; its id is kept in the metadata file."""
    path = Path(path)
    meta = _read_meta(client, path)
    api = getattr(client.backend, "client", None)
    if client.backend.name != "openai" or api is None:
        raise LLMConfigError(f"submit needs a role on the openai backend; use run_locally for "
                             f"{client.backend.name}")
    uploaded = api.files.create(file=path.open("rb"), purpose="batch")
    batch = api.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h")
    meta["batch_id"] = batch.id
    _meta_path(path).write_text(json.dumps(meta, indent=1))
    return batch.id


def poll(client: RoleClient, path: str | Path) -> str:
    """The batch's status; once `completed`, its output is written next to the input file."""
    path = Path(path)
    meta = _read_meta(client, path)
    if "batch_id" not in meta:
        raise LLMConfigError(f"{path} has not been submitted (no batch_id in its metadata)")
    api = client.backend.client
    batch = api.batches.retrieve(meta["batch_id"])
    if batch.status == "completed" and batch.output_file_id:
        output_path(path).write_text(api.files.content(batch.output_file_id).text)
    return batch.status


def pending(client: RoleClient, path: str | Path) -> list[str]:
    """custom_ids of the batch whose answers are not in the call cache yet."""
    meta = _read_meta(client, Path(path))
    return [key for key in meta["requests"] if client.cache.get(key) is None]


def run(client: RoleClient, requests: Sequence[dict[str, Any]], path: str | Path, batches: bool,
        max_workers: int = 0) -> list[Any]:
    """`client.run_batch(requests, max_workers)`; with `batches`, first write them to `path` as a
    batch file and stop (raise) while any answer is missing from the cache, so nothing is called live."""
    if batches:
        path = write_requests(client, requests, path)
        waiting = pending(client, path)
        if waiting:
            raise RuntimeError(f"{len(waiting)} of {len(requests)} requests wait for their batch: {path} "
                               "(+ .meta.json). Run it (resources.llm.batch.submit and poll, or run_locally), "
                               "ingest it, and materialize again")
    return client.run_batch(requests, max_workers)
