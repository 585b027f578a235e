"""One line of an OpenAI Batch API output or error file, read into what the call cache keeps."""

import json
from typing import Any


def _count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_output_line(line) -> tuple[dict[str, Any] | None, str | None]:
    """(the answer as the call cache keeps it, None) for an answered line; (None, why) for any other:
    an error, a status other than 200, a body without a completion, or whatever else a file holds."""
    if not isinstance(line, dict):
        return None, f"not a JSON object: {json.dumps(line)[:80]}"
    error = line.get("error")
    if error:
        return None, f"{error.get('code')}: {error.get('message')}" if isinstance(error, dict) else str(error)[:200]
    response = line.get("response") if isinstance(line.get("response"), dict) else {}
    body = response.get("body") if isinstance(response.get("body"), dict) else {}
    if response.get("status_code") != 200:
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        return None, f"HTTP {response.get('status_code')}: {err.get('message', 'no message')}"
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    text = message.get("content")
    if "content" not in message or not (text is None or isinstance(text, str)):
        return None, "HTTP 200 without a completion (choices[0].message.content)"
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    reason = choice.get("finish_reason")
    return {"text": text or "", "finish_reason": reason if isinstance(reason, str) else None,
            "prompt_tokens": _count(usage.get("prompt_tokens")),
            "completion_tokens": _count(usage.get("completion_tokens")), "truncated": False}, None
