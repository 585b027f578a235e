"""`acts.sentences`: the thinking spans of the reasoning traces, split into sentences.

The thinking span lies between `<think>` and `</think>`; a missing `<think>` means it starts at
the beginning (reasoning models' chat templates often put the tag in the prompt), a missing
`</think>` that it runs to the end (a cut-off trace). A trace with neither tag has no thinking
span: it is skipped and counted. Sentences are found per line by pysbd (it keeps decimals,
abbreviations and numbered steps together) and keep their character span in `full_response`, so
activations can be read at exactly those tokens. Fragments under `min_words` words are dropped
and counted.
"""

import re

import dagster as dg
import pandas as pd
import pysbd

from assets.acts.config import SentencesConfig
from assets.core.tables import Written, one, table_step
from assets.lineage import MODEL, Query, reads
from resources.datasets import DatasetError
from resources.warehouse import Warehouse

TRACES = Query("SELECT * FROM acts.traces ORDER BY trace_id")
OPEN, CLOSE = "<think>", "</think>"
_SEGMENTER = pysbd.Segmenter(language="en", clean=False, char_span=True)
_WORD = re.compile(r"\w+")


def thinking_span(text: str) -> tuple[int, int] | None:
    """Character range of the thinking span, or None when the text has neither tag."""
    start, end = text.find(OPEN), text.find(CLOSE)
    if start < 0 and end < 0:
        return None
    start = 0 if start < 0 else start + len(OPEN)
    end = len(text) if end < start else end
    return start, end


def split_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans (absolute, whitespace trimmed) within text[start:end], line by line."""
    spans = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        offset = start + line.start()
        for piece in _SEGMENTER.segment(line.group()):
            s, e = offset + piece.start, offset + piece.end
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if e > s:
                spans.append((s, e))
    return spans


def build_sentences(traces: pd.DataFrame, min_words: int) -> tuple[pd.DataFrame, dict]:
    rows, no_span, short = [], [], 0
    for trace in traces.itertuples():
        span = thinking_span(trace.full_response)
        if span is None:
            no_span.append(int(trace.trace_id))
            continue
        idx = 0
        for s, e in split_sentences(trace.full_response, *span):
            sentence = trace.full_response[s:e]
            n_words = len(_WORD.findall(sentence))
            if n_words < min_words:
                short += 1
                continue
            rows.append({"sentence_id": f"{trace.trace_id}:{idx}", "trace_id": int(trace.trace_id), "idx": idx,
                         "text": sentence, "char_start": s, "char_end": e, "n_words": n_words})
            idx += 1
    columns = ["sentence_id", "trace_id", "idx", "text", "char_start", "char_end", "n_words"]
    report = {"traces": len(traces), "traces_without_thinking_span": len(no_span),
              "fragments_dropped": short, "sentences": len(rows)}
    if no_span:
        report["trace_ids_without_thinking_span"] = no_span[:50]
    return pd.DataFrame(rows, columns=columns), report


@table_step(deps=reads(TRACES), layer=MODEL)
def sentences(context: dg.AssetExecutionContext, config: SentencesConfig,
              warehouse: Warehouse) -> Written:
    """Sentences of each trace's thinking span with their character spans in `full_response`."""
    frame, report = build_sentences(warehouse.query(TRACES), config.min_words)
    if report["traces_without_thinking_span"]:
        context.log.warning(f"{report['traces_without_thinking_span']} trace(s) have neither {OPEN} nor {CLOSE} "
                            f"and were skipped: trace_id {report['trace_ids_without_thinking_span']}")
    if frame.empty:
        raise DatasetError(f"no sentence of {config.min_words}+ words in any thinking span "
                           f"({report['traces']} traces, {report['traces_without_thinking_span']} without one)")
    return one(frame, {**report})
