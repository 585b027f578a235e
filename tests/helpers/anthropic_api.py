"""A local stand-in of Anthropic's Messages and Message Batches endpoints on 127.0.0.1, for the
`anthropic` client (which cannot tell), as tests/helpers/batch_api.py is for OpenAI's Batch API:

    POST /v1/messages                        a Message; `overloaded` first answers are 529
    POST /v1/messages/batches                a batch, `in_progress` until the test calls complete()
    GET  /v1/messages/batches/{id}           its state
    GET  /v1/messages/batches/{id}/results   JSONL, one result per request
`answer(params)` gives each reply's text (None: an errored request); with `refuse_sampling` a body
with a temperature gets a 400, as models that fix their own sampling answer. Every request's
key is recorded by path.
"""

import json
import time
from typing import Callable

from tests.helpers.json_server import JsonHandler

USAGE = {"input_tokens": 11, "output_tokens": 3}


def message(text: str, model: str) -> dict:
    return {"id": f"msg_{time.time_ns()}", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": dict(USAGE)}


class AnthropicAPI:
    def __init__(self, answer: Callable[[dict], str | None], overloaded: int = 0, refuse_sampling: bool = False):
        self.answer, self.overloaded, self.refuse_sampling = answer, overloaded, refuse_sampling
        self.keys: list[tuple[str, str]] = []   # (path, x-api-key) of every request
        self.bodies: list[dict] = []            # every /v1/messages body
        self.batches: dict[str, dict] = {}
        self.requests: dict[str, list[dict]] = {}
        self.results: dict[str, list[dict]] = {}

    def complete(self) -> None:
        for batch_id, batch in self.batches.items():
            if batch["processing_status"] != "in_progress":
                continue
            results = []
            for request in self.requests[batch_id]:
                text = self.answer(request["params"])
                results.append({"custom_id": request["custom_id"], "result": {
                    "type": "succeeded", "message": message(text, request["params"]["model"])} if text is not None
                    else {"type": "errored", "error": {"type": "error", "error": {
                        "type": "api_error", "message": "the stand-in failed this request"}}}})
            self.results[batch_id] = results
            ok = sum(r["result"]["type"] == "succeeded" for r in results)
            batch.update(processing_status="ended", ended_at="2026-12-02T00:00:00Z",
                         results_url=f"{batch['base']}/v1/messages/batches/{batch_id}/results",
                         request_counts={"processing": 0, "succeeded": ok, "errored": len(results) - ok,
                                         "canceled": 0, "expired": 0})


def batch_body(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k != "base"}


def handler(api: AnthropicAPI) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def _key(self):
            # the client sends the key as x-api-key or (anthropic 2.x) as a bearer token
            bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
            api.keys.append((self.path, self.headers.get("x-api-key") or bearer))

        def do_POST(self):
            self._key()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/v1/messages":
                api.bodies.append(body)
                if api.overloaded:
                    api.overloaded -= 1
                    return self.send_json(529, {"type": "error", "error": {"type": "overloaded_error",
                                                                           "message": "Overloaded"}}, retry_after_ms="5")
                if api.refuse_sampling and "temperature" in body:
                    return self.send_json(400, {"type": "error", "error": {
                        "type": "invalid_request_error", "message": "temperature is not supported for this model"}})
                text = api.answer(body)
                return self.send_json(200, message(text or "", body["model"]))
            if self.path == "/v1/messages/batches":
                batch_id = f"msgbatch_{len(api.batches) + 1}"
                api.requests[batch_id] = body["requests"]
                api.batches[batch_id] = {
                    "id": batch_id, "type": "message_batch", "processing_status": "in_progress",
                    "request_counts": {"processing": len(body["requests"]), "succeeded": 0, "errored": 0,
                                       "canceled": 0, "expired": 0},
                    "created_at": "2026-12-02T00:00:00Z", "expires_at": "2026-12-03T00:00:00Z", "ended_at": None,
                    "archived_at": None, "cancel_initiated_at": None, "results_url": None,
                    "base": f"http://127.0.0.1:{self.server.server_port}"}
                return self.send_json(200, batch_body(api.batches[batch_id]))
            self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})

        def do_GET(self):
            self._key()
            parts = self.path.strip("/").split("/")
            if parts[:3] == ["v1", "messages", "batches"] and len(parts) == 4:
                return self.send_json(200, batch_body(api.batches[parts[3]]))
            if parts[:3] == ["v1", "messages", "batches"] and parts[4:] == ["results"]:
                data = "".join(json.dumps(r) + "\n" for r in api.results[parts[3]]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/binary")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return self.wfile.write(data)
            self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})

    return Handler
