"""Fit a conversation into a context window by shortening the longest message."""

from __future__ import annotations

from typing import Callable

from resources.llm.types import Messages

MARKER = " …[truncated]"


def fit_messages(
    messages: Messages, count_tokens: Callable[[Messages], int], budget: int
) -> tuple[Messages, bool]:
    """Return (messages, truncated): the longest message is cut from its end until it fits."""
    if count_tokens(messages) <= budget:
        return messages, False
    msgs = [dict(m) for m in messages]
    for _ in range(64):
        n = count_tokens(msgs)
        if n <= budget:
            return msgs, True
        longest = max(range(len(msgs)), key=lambda i: len(msgs[i]["content"]))
        content = msgs[longest]["content"].removesuffix(MARKER)
        if len(content) <= 1:
            break
        # cut in proportion to the overshoot, with a margin so this converges in a few steps
        keep = int(len(content) * max(0.0, 1 - (n - budget) / n * 1.1 - 0.01))
        msgs[longest]["content"] = content[:keep] + MARKER
    raise ValueError(f"cannot fit the messages into {budget} tokens, even after truncation")
