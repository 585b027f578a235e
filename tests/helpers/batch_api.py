"""A local fake of OpenAI's Files and Batches endpoints, for the batch lifecycle test.

    POST /v1/files (multipart, purpose=batch)   GET /v1/files/{id}/content
    POST /v1/batches                             GET /v1/batches/{id}
A batch stays `in_progress` until the test calls `complete()`; then each input line is answered
by `answer(custom_id, body)` (a string: the reply; None: a failed line, written to the error file
as OpenAI writes a request that failed).
"""

import email
import email.policy
import json
import re
import time
from typing import Callable

from tests.helpers.json_server import JsonHandler, completion


class BatchAPI:
    """The fake's state: uploaded files, batches, and the lines each upload carried."""

    def __init__(self, answer: Callable[[str, dict], str | None]):
        self.answer = answer
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.uploaded_lines: list[int] = []

    def add_file(self, content: bytes, purpose: str, filename: str = "output.jsonl") -> dict:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = content
        return {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed"}

    def complete(self) -> None:
        """Answer every batch in progress."""
        for batch in self.batches.values():
            if batch["status"] != "in_progress":
                continue
            answered, failed = [], []
            for i, line in enumerate(self.files[batch["input_file_id"]].decode().splitlines()):
                request = json.loads(line)
                content = self.answer(request["custom_id"], request["body"])
                if content is None:
                    failed.append({"id": f"batch_req_{i}", "custom_id": request["custom_id"], "error": None,
                                   "response": {"status_code": 500, "request_id": f"req_{i}", "body": {
                                       "error": {"message": "the fake server failed this line", "type": "server_error"}}}})
                else:
                    answered.append({"id": f"batch_req_{i}", "custom_id": request["custom_id"], "error": None,
                                     "response": {"status_code": 200, "request_id": f"req_{i}",
                                                  "body": completion(content, request["body"]["model"])}})
            batch["status"] = "completed"
            batch["request_counts"] = {"total": len(answered) + len(failed), "completed": len(answered),
                                       "failed": len(failed)}
            for key, lines in (("output_file_id", answered), ("error_file_id", failed)):
                if lines:
                    body = "".join(json.dumps(x) + "\n" for x in lines).encode()
                    batch[key] = self.add_file(body, "batch_output")["id"]


def handler(api: BatchAPI) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/files":
                message = email.message_from_bytes(
                    f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body, policy=email.policy.HTTP)
                parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
                content = parts["file"].get_payload(decode=True)
                api.uploaded_lines.append(len(content.decode().splitlines()))
                purpose = parts["purpose"].get_payload(decode=True).decode()
                return self.send_json(200, api.add_file(content, purpose, parts["file"].get_filename()))
            if self.path == "/v1/batches":
                request = json.loads(body)
                if request["input_file_id"] not in api.files:
                    return self.send_json(404, {"error": {"message": "no such file"}})
                batch_id = f"batch_{len(api.batches) + 1}"
                api.batches[batch_id] = {
                    "id": batch_id, "object": "batch", "endpoint": request["endpoint"], "errors": None,
                    "input_file_id": request["input_file_id"], "completion_window": request["completion_window"],
                    "status": "in_progress", "created_at": int(time.time()), "output_file_id": None,
                    "error_file_id": None, "request_counts": {"total": 0, "completed": 0, "failed": 0}}
                return self.send_json(200, api.batches[batch_id])
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})

        def do_GET(self):
            if match := re.fullmatch(r"/v1/batches/([\w-]+)", self.path):
                return self.send_json(200, api.batches[match[1]])
            if match := re.fullmatch(r"/v1/files/([\w-]+)/content", self.path):
                data = api.files[match[1]]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return self.wfile.write(data)
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})

    return Handler
