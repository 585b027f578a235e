"""One self-contained HTML file: sections of tables, plots and examples, with plotly.js, the styles
and a small search script inline, so that the file opens from `file://` with the network off and
asks no host for anything (as `inspect view bundle` and promptfoo's HTML output do)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#fff}
header{background:#24292f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#d0d7de;font-size:13px}nav{padding:8px 24px;border-bottom:1px solid #d0d7de}
nav a{margin-right:16px;color:#0969da;text-decoration:none}main{padding:0 24px 40px;max-width:1400px}
h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:32px}.note{color:#57606a;font-size:13px}
table.data{border-collapse:collapse;font-size:13px;margin:8px 0}table.data th,table.data td{border:1px solid #d0d7de;
padding:3px 8px;text-align:left;vertical-align:top}table.data th{background:#f6f8fa}
details.example{border:1px solid #d0d7de;border-radius:6px;margin:6px 0;padding:4px 10px}
details.example summary{cursor:pointer;font-weight:600}.pair{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.response{border-left:3px solid #d0d7de;padding-left:10px;overflow-x:auto}.response pre{background:#f6f8fa;padding:8px;
overflow-x:auto}.prompt{background:#f6f8fa;padding:6px 10px;border-radius:6px}.won{color:#1a7f37}
#search{width:420px;padding:6px;margin:12px 0;font-size:14px}.hidden{display:none}
"""

# hides the examples whose text does not hold what is typed: no request, no library
SEARCH = """
document.getElementById('search').addEventListener('input', function (e) {
  var q = e.target.value.toLowerCase();
  document.querySelectorAll('details.example').forEach(function (d) {
    d.classList.toggle('hidden', q && d.textContent.toLowerCase().indexOf(q) < 0);
  });
});
"""


@dataclass
class Section:
    anchor: str
    title: str
    parts: list[str] = field(default_factory=list)

    def note(self, text: str) -> "Section":
        self.parts.append(f'<p class="note">{html.escape(text)}</p>')
        return self

    def heading(self, text: str) -> "Section":
        self.parts.append(f"<h3>{html.escape(text)}</h3>")
        return self

    def table(self, frame: pd.DataFrame, digits: int = 3) -> "Section":
        self.parts.append(frame.to_html(index=False, classes="data", border=0, na_rep="",
                                        float_format=lambda v: f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"))
        return self

    def figure(self, fig: go.Figure) -> "Section":
        self.parts.append(fig.to_html(full_html=False, include_plotlyjs=False,
                                      config={"displaylogo": False, "responsive": True}))
        return self

    def raw(self, markup: str) -> "Section":
        self.parts.append(markup)
        return self


def example(summary: str, body: str) -> str:
    """A collapsed example: its one-line summary, opened to its rendered body."""
    return f'<details class="example"><summary>{html.escape(summary)}</summary>{body}</details>'


def pair(left_title: str, left_html: str, right_title: str, right_html: str) -> str:
    return (f'<div class="pair"><div><b>{left_title}</b><div class="response">{left_html}</div></div>'
            f'<div><b>{right_title}</b><div class="response">{right_html}</div></div></div>')


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>{"".join(s.parts)}</section>'
                   for s in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
            f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header><nav>{nav}</nav><main>"
            f'<input id="search" type="search" placeholder="search the examples">{body}</main>'
            f"<script>{SEARCH}</script></body></html>")
