"""Responses as a person reads them: markdown rendered to HTML (code blocks, lists, tables), with
evidence quotes highlighted where they occur. Shared by the app's explorers and the static report.

A quote is located as `sql/arena/describer_grounding.sql` decides that it occurs: lower case, runs
of white space as one space. The span found in that normalised text is mapped back to the raw
text, marked there with two private-use characters, and the markdown rendered; the marks are then
turned into `<mark>` elements text node by text node, so a quote that crosses a list item, a bold
span or a code block still gives balanced HTML (one `<mark data-span=k>` per piece).
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt

OPEN, CLOSE = "\ue000", "\ue001"
MARK_STYLE = "background:#ffe28a;padding:0 1px;border-radius:2px"
PRE_STYLE = "white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:6px;border-radius:4px"
# raw HTML in a response is shown as text, never run: responses are untrusted input
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable("table")
# a line's block syntax, which a mark placed in front of it would break
_BLOCK_START = re.compile(r"[ \t]*(?:[-*+][ \t]+|\d{1,9}[.)][ \t]+|#{1,6}[ \t]+|>[ \t]?|`{3,}\S*|~{3,}\S*|\|)*")
_WS = re.compile(r"\s+")
_FENCE = re.compile(r"[ \t]*(?:`{3,}|~{3,})")


def normalise(text: str) -> str:
    """The grounding rule's normal form (describer_grounding.sql): lower case, white space runs as one space."""
    return _WS.sub(" ", text.lower())


def _normalised_with_map(text: str) -> tuple[str, list[int]]:
    """The normal form of `text` and, for each of its characters, the raw position it came from."""
    out, where = [], []
    i = 0
    for m in _WS.finditer(text):
        for j in range(i, m.start()):
            out.append(text[j].lower())
            where.append(j)
        out.append(" ")
        where.append(m.start())
        i = m.end()
    for j in range(i, len(text)):
        out.append(text[j].lower())
        where.append(j)
    return "".join(out), where


def find_spans(text: str, quotes: list[str]) -> list[tuple[int, int]]:
    """Raw-text spans [start, end) of every occurrence of each quote, overlapping ones merged."""
    norm, where = _normalised_with_map(text)
    spans = []
    for quote in quotes:
        q = normalise(quote.strip())
        if not q:
            continue
        at = norm.find(q)
        while at >= 0:
            spans.append((where[at], where[at + len(q) - 1] + 1))
            at = norm.find(q, at + len(q))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _safe_start(text: str, at: int) -> int:
    """Move a mark that would open a line past the line's block syntax (list bullet, heading, fence)."""
    line_start = text.rfind("\n", 0, at) + 1
    if text[line_start:at].strip(" \t"):
        return at
    return max(at, _BLOCK_START.match(text, line_start).end())


def _safe_end(text: str, at: int) -> int:
    """Move a mark that would close on a fence line (or after a newline) to the end of the line before."""
    line_start = text.rfind("\n", 0, at) + 1
    if text[line_start:at].strip(" \t") == "" or _FENCE.match(text, line_start):
        return max(line_start - 1, 0)
    return at


class _Marker(HTMLParser):
    """Rewrites rendered HTML: each text node's marked pieces become `<mark data-span=k>`."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.inside = False
        self.span = -1
        self.marks = 0  # OPEN and CLOSE seen in text: a mark lost in an attribute leaves it odd

    def handle_starttag(self, tag, attrs):
        # a code block wraps in its column rather than running under the other response
        self.out.append(f'<pre style="{PRE_STYLE}">' if tag == "pre" else self.get_starttag_text())

    def handle_startendtag(self, tag, attrs):
        self.out.append(self.get_starttag_text())

    def handle_endtag(self, tag):
        self.out.append(f"</{tag}>")

    def handle_data(self, data):
        pieces = re.split(f"([{OPEN}{CLOSE}])", data)
        for piece in pieces:
            self.marks += piece in (OPEN, CLOSE)
            if piece == OPEN:
                self.inside, self.span = True, self.span + 1
            elif piece == CLOSE:
                self.inside = False
            elif piece:
                text = html.escape(piece, quote=False)
                self.out.append(f'<mark data-span="{self.span}" style="{MARK_STYLE}">{text}</mark>'
                                if self.inside and piece.strip() else text)


def render(text: str, quotes: list[str] | tuple = ()) -> str:
    """`text` as HTML, markdown rendered, every occurrence of each quote highlighted. A span whose
    marks the markdown swallows (one ending inside a code fence's info string) is left unmarked."""
    text = (text or "").replace(OPEN, "").replace(CLOSE, "")
    spans = []
    for start, end in find_spans(text, list(quotes)):
        start, end = _safe_start(text, start), _safe_end(text, end)
        if end > start and (not spans or start >= spans[-1][1]):
            spans.append((start, end))
    out, marks = _render(text, spans)
    if marks != 2 * len(spans):
        spans = [s for s in spans if _render(text, [s])[1] == 2]
        out, _ = _render(text, spans)
    return out


def _render(text: str, spans: list[tuple[int, int]]) -> tuple[str, int]:
    pieces, last = [], 0
    for start, end in spans:
        pieces += [text[last:start], OPEN, text[start:end], CLOSE]
        last = end
    pieces.append(text[last:])
    marker = _Marker()
    marker.feed(_MD.render("".join(pieces)))
    marker.close()
    return "".join(marker.out), marker.marks


def marked_texts(rendered: str) -> list[str]:
    """The text of each highlighted span of `render`'s output, pieces joined: what a reader sees marked."""
    found: dict[str, list[str]] = {}
    for span, text in re.findall(r'<mark data-span="(\d+)"[^>]*>(.*?)</mark>', rendered, flags=re.S):
        found.setdefault(span, []).append(html.unescape(text))
    return ["".join(parts) for _, parts in sorted(found.items(), key=lambda kv: int(kv[0]))]


PALETTE = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#d9d9d9",
           "#bc80bd", "#ccebc5", "#ffed6f"]


def coloured_sentences(sentences) -> str:
    """A trace as HTML, each sentence on the colour of its cluster (title on hover): rows of
    (text, cluster_id, title); a sentence with no cluster stays plain."""
    out = []
    for text, cluster, title in sentences:
        if cluster is None or cluster != cluster:
            out.append(html.escape(text))
            continue
        colour = PALETTE[int(cluster) % len(PALETTE)]
        hover = html.escape(f"{int(cluster)}. {title or ''}")
        out.append(f'<span data-cluster="{int(cluster)}" title="{hover}" '
                   f'style="background:{colour};padding:1px 2px;border-radius:3px">{html.escape(text)}</span>')
    return '<div style="line-height:1.9">' + " ".join(out) + "</div>"
