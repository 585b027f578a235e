"""The providers' batch APIs behind `vibescope batch`: OpenAI's Batch API (a JSONL file uploaded,
output and error files back) and Anthropic's Message Batches (requests posted as a list, results
streamed back as JSONL). Each gives the lifecycle in resources/llm/batch.py the same four moves:
create a batch of requests, read its state, tell whether it is finished, read its answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from resources.llm.batch_output import parse_output_line
from resources.llm.types import LLMConfigError

ENDPOINT = "/v1/chat/completions"
Answer = tuple[Any, dict[str, Any] | None, str | None]  # (custom_id, the answer or None, why not)


def openai_line(key: str, model: str, request: dict[str, Any]) -> str:
    """One request as a line of an OpenAI Batch API input file (also the batch file's own format)."""
    body = {k: request[k] for k in ("messages", "temperature", "top_p", "max_tokens", "seed")}
    body["model"] = model
    if "json_schema" in request:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "output", "schema": request["json_schema"], "strict": True}}
    return json.dumps({"custom_id": key, "method": "POST", "url": ENDPOINT, "body": body}) + "\n"


class OpenAIBatches:
    finished_states = ("completed", "failed", "expired", "cancelled")

    def __init__(self, api, model: str):
        self.api, self.model = api, model

    def create(self, sent: Path, requests: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        sent.write_text("".join(openai_line(k, self.model, r) for k, r in requests.items()))
        with sent.open("rb") as f:
            uploaded = self.api.files.create(file=f, purpose="batch")
        batch = self.api.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h")
        return batch.id, {"input_file_id": uploaded.id, "state": batch.status}

    def state(self, batch_id: str) -> tuple[str, dict[str, Any] | None]:
        remote = self.api.batches.retrieve(batch_id)
        return remote.status, remote.request_counts.model_dump() if remote.request_counts is not None else None

    def answers(self, batch_id: str, saved: Path) -> Iterator[Answer]:
        remote = self.api.batches.retrieve(batch_id)
        for kind, file_id in (("output", remote.output_file_id), ("errors", remote.error_file_id)):
            if not file_id:
                continue
            text = self.api.files.content(file_id).text
            saved.with_name(f"{saved.name}.{kind}.jsonl").write_text(text)
            for x in filter(str.strip, text.splitlines()):
                try:
                    line = json.loads(x)
                except json.JSONDecodeError:  # a cut line names no request it could answer
                    yield None, None, "not JSON"
                    continue
                yield (line.get("custom_id") if isinstance(line, dict) else None, *parse_output_line(line))


class AnthropicBatches:
    finished_states = ("ended",)

    def __init__(self, api, model: str):
        self.api, self.model = api, model

    def create(self, sent: Path, requests: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        from resources.llm.backend_anthropic import message_params

        lines = [{"custom_id": k, "params": message_params(self.model, r)} for k, r in requests.items()]
        sent.write_text("".join(json.dumps(x) + "\n" for x in lines))
        batch = self.api.messages.batches.create(requests=lines)
        return batch.id, {"state": batch.processing_status}

    def state(self, batch_id: str) -> tuple[str, dict[str, Any] | None]:
        remote = self.api.messages.batches.retrieve(batch_id)
        return remote.processing_status, remote.request_counts.model_dump()

    def answers(self, batch_id: str, saved: Path) -> Iterator[Answer]:
        from resources.llm.backend_anthropic import answer_of

        entries = [entry.model_dump() for entry in self.api.messages.batches.results(batch_id)]
        saved.with_name(f"{saved.name}.results.jsonl").write_text("".join(json.dumps(x, default=str) + "\n" for x in entries))
        for entry in entries:
            result = entry.get("result") or {}
            if result.get("type") == "succeeded":
                yield entry.get("custom_id"), answer_of(result["message"]), None
            elif result.get("type") == "errored":
                error = (result.get("error") or {}).get("error") or {}
                yield entry.get("custom_id"), None, f"{error.get('type')}: {error.get('message')}"
            else:  # canceled, expired
                yield entry.get("custom_id"), None, f"request {result.get('type')}"


def provider(client) -> OpenAIBatches | AnthropicBatches:
    """The batch API of a role's backend; refused, naming the way out, for a local backend."""
    kinds = {"openai": OpenAIBatches, "anthropic": AnthropicBatches}
    api = getattr(client.backend, "client", None)
    if client.backend.name not in kinds or api is None:
        raise LLMConfigError(f"role '{client.role}' runs on {client.backend.name}: only a role on backend openai "
                             "or anthropic has a batch API; answer the file with run-locally instead")
    return kinds[client.backend.name](api, client.backend.model)
