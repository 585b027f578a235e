"""Responses rendered as people read them: markdown to HTML, evidence highlighted where it occurs,
on LMM-Vibes' own published battles and properties; and the leaderboard's rounding. Every
expected value is derived here (the quotes' grounding with the standard library alone)."""

import json
import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.evidence import marked_texts, render
from analysis.leaderboard import rounded, rounding_step
from resources.datasets import SAMPLES_DIR

ANCHORS = SAMPLES_DIR / "anchors"


def pieces(item: str) -> list[str]:
    """An evidence item's quotes (describer_grounding.sql's rule): LMM-Vibes writes `"a" and "b... c"`,
    each quoted fragment split at its ellipses a quote; any other item is one."""
    if item.strip().startswith(('"', "“")):
        return [p for f in re.findall(r'["“]([^"”]+)["”]', item) for p in re.split(r"\.\.\.|…", f)]
    return [item]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text.lower())


class Balance(HTMLParser):
    """Counts <mark> tags opened and closed, and the deepest nesting: well-formed marks balance."""

    VOID = {"br", "hr", "img", "input", "meta", "link"}

    def __init__(self):
        super().__init__()
        self.stack, self.ok = [], True

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        self.ok &= bool(self.stack) and self.stack.pop() == tag


def balanced(markup: str) -> bool:
    b = Balance()
    b.feed(markup)
    return b.ok and not b.stack


def test_markdown_renders_and_raw_html_is_shown_not_run():
    out = render("# Title\n\n- one\n- two\n\n```python\nprint(1 < 2)\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
                 "<script>alert(1)</script> <img src=x onerror=alert(2)>")
    assert "<h1>Title</h1>" in out and out.count("<li>") == 2
    assert re.search(r'<pre[^>]*><code class="language-python">print\(1 &lt; 2\)', out)
    assert "<table>" in out and "<td>2</td>" in out
    assert "<script>" not in out and "<img" not in out and "&lt;script&gt;" in out
    assert balanced(out)


def test_the_anchor_files_quotes_are_highlighted_where_they_occur_and_only_there():
    """Each LMM-Vibes property's evidence against the response it describes: a quote is marked in
    that response exactly when it occurs there (lower case, white space runs as one, 8 characters
    or more: the grounding rule), found here by plain `in` on the raw files."""
    battles = {b["question_id"]: b for b in map(json.loads, (ANCHORS / "lmm_vibes_arena_battles.jsonl").open())}
    checked = found = 0
    by_response: dict[tuple, list[str]] = {}
    for p in map(json.loads, (ANCHORS / "lmm_vibes_arena_properties.jsonl").open()):
        b = battles[p["question_id"]]
        side = "a" if p["model"] == b["model_a"] else "b"
        quotes = p["evidence"] if isinstance(p["evidence"], list) else [p["evidence"]]
        by_response.setdefault((p["question_id"], side), []).extend(q for item in quotes if item for q in pieces(item))
    for (qid, side), quotes in by_response.items():
        text = battles[qid][f"model_{side}_response"]
        norm = " ".join(text.lower().split())
        expected = {squash(q) for q in quotes if len(" ".join(q.lower().split())) >= 8 and " ".join(q.lower().split()) in norm}
        long_enough = [q for q in quotes if len(" ".join(q.lower().split())) >= 8]
        out = render(text, long_enough)
        marked = {visible(m) for m in marked_texts(out)}
        expected = {visible(e) for e in expected}
        assert balanced(out), qid
        # each quote found is marked, and each marked span is a quote (overlapping ones: one span)
        assert all(any(e in m for m in marked) for e in expected), (qid, expected - marked)
        assert all(any(e in m for e in expected) for m in marked), (qid, marked - expected)
        checked += len(long_enough)
        found += len(expected)
    assert checked > 50 and checked / 2 < found < checked  # 40 of 58 found: most, not all


def visible(text: str) -> str:
    """What a reader sees of a quote once rendered: no markdown syntax (`**`, bullets, list numbers)."""
    return re.sub(r"[*_`#|>\-]|\d+\.", "", squash(text))


@settings(max_examples=60, deadline=None)
@given(words=st.lists(st.sampled_from(["alpha", "beta", "- item", "**bold**", "`code`", "\n\n", "\n```\n", "# head",
                                       "1. first", "| a | b |", "gamma", "\n"]), min_size=3, max_size=25),
       start=st.integers(0, 24), length=st.integers(1, 6))
def test_any_quote_gives_balanced_html_and_marks_only_its_own_words(words, start, length):
    text = " ".join(words)
    tokens = [w for w in words if w.strip()]
    quote = " ".join(tokens[start % len(tokens): start % len(tokens) + length]) if tokens else ""
    out = render(text, [quote])
    assert balanced(out)
    for m in marked_texts(out):
        assert visible(m) in visible(quote), (m, quote)


def test_ratings_are_rounded_to_what_their_intervals_carry():
    # a 150-point interval: tens; a 20-point one: units; a 0.02-wide one: thousandths
    assert rounding_step(1050.0, 1200.0) == 10
    assert rounded(1114.7868, 1050.2, 1200.1) == "1110 [1050, 1200]"
    assert rounded(1187.4, 1180.1, 1199.9) == "1187 [1180, 1200]"
    assert rounded(0.75716, 0.7502, 0.7698) == "0.757 [0.750, 0.770]"
    assert rounded(1000.0, float("nan"), float("nan")) == "1000"
    assert rounding_step(5.0, 5.0) == 1
    # the boundary: a tenth of the width reaches 10 at a width of 100
    assert (rounding_step(0, 99.9), rounding_step(0, 100.0)) == (1, 10)
    assert rounded(1004.6, 975.3, 1035.1) == "1005 [975, 1035]"  # 60 wide: units
