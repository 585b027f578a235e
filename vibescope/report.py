"""`vibescope report --html PATH`: the warehouse's findings as one HTML file to send to a colleague:
each analysis' headline tables and plots, and up to N examples per cluster or category, rendered
as the app renders them (markdown, highlighted evidence). Nothing in it asks a host for anything."""

from __future__ import annotations

import argparse
import html
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import plotly.express as px

from analysis.evidence import coloured_sentences, render
from analysis.leaderboard import board, interval_figure, matrix_figure
from analysis.report_html import Section, example, page, pair
from resources import examples, explore
from resources.explore import BattleFilter
from resources.reader import open_reader, where_readers_read
from resources.settings import load_settings


def add_report(sub) -> None:
    p = sub.add_parser("report", help="the findings as one self-contained HTML file (no server, no network)")
    p.add_argument("--html", required=True, type=Path, help="where to write the file")
    p.add_argument("--examples", type=int, default=5, help="examples per cluster or category (default 5)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    if args.examples < 0:
        raise SystemExit("vibescope report: --examples must be 0 or more")
    settings = load_settings()
    try:
        con = open_reader(settings)
    except FileNotFoundError:
        raise SystemExit(f"vibescope report: no warehouse at {where_readers_read(settings)} yet (make demo, or "
                         "vibescope arena | cje | diff | acts)") from None
    with con:
        sections = build(con, args.examples)
    if not sections:
        raise SystemExit("vibescope report: the warehouse holds no analysis yet (make demo, or vibescope arena | cje | diff | acts)")
    args.html.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    args.html.write_text(page("vibescope report", f"written {stamp} from {where_readers_read(settings)}",
                              sections), encoding="utf-8")
    print(f"wrote {args.html} ({args.html.stat().st_size / 1e6:.1f} MB; {len(sections)} sections, "
          f"up to {args.examples} examples per cluster or category)")


def build(con: duckdb.DuckDBPyConnection, n: int) -> list[Section]:
    have = explore.tables(con)
    makers = [(leaderboard, "arena.model_ratings"), (arena_examples, "arena.battles"), (cje, "cje.policy_estimates"),
              (diff, "diff.iteration_metrics"), (acts, "acts.clustering_scores")]
    return [make(con, n) for make, needs in makers if needs in have]


def leaderboard(con, n: int) -> Section:
    ratings = con.execute("SELECT * FROM arena.model_ratings").df()
    s = Section("leaderboard", "Leaderboard: which model is better")
    s.note("Bradley-Terry ratings on the Elo scale, 95% bootstrap intervals, rounded to what the interval carries; "
           "rank: the ranks the interval allows.").table(board(ratings)).figure(interval_figure(ratings))
    if "arena.pairwise_battles" in explore.tables(con):
        pairwise = con.execute("SELECT * FROM arena.pairwise_battles").df()
        order = board(ratings).model.tolist() or None
        s.heading("Share of decided battles the row model won").figure(matrix_figure(pairwise, "win_fraction", order))
        s.heading("Decided battles between the two").figure(matrix_figure(pairwise, "decided", order))
    return s


def _battle_html(con, battle_id: str) -> tuple[str, str]:
    b = explore.battle(con, battle_id)
    r = b.row
    won = {"model_a": f"A ({r.model_a}) won", "model_b": f"B ({r.model_b}) won", "tie": "tie"}[r.winner]
    props = "".join(f"<li><b>{p.side}</b>: {html.escape(p.property_description)}</li>" for p in b.properties.itertuples())
    body = (f'<div class="prompt">{render(r.prompt)}</div>'
            + pair(f"A: {r.model_a}", render(r.response_a, b.quotes("A")), f"B: {r.model_b}", render(r.response_b, b.quotes("B")))
            + (f"<p><b>Properties</b> (grounded evidence highlighted)</p><ul>{props}</ul>" if props else ""))
    return f"{battle_id}: {r.model_a} vs {r.model_b}, {won}", body


def arena_examples(con, n: int) -> Section:
    s = Section("arena", "Arena behaviours: the battles behind each cluster and category")
    opts = explore.options(con)
    for level in ("fine", "coarse"):
        for cluster_id, name, size in opts.get(level, []):
            f = BattleFilter(**{level: int(cluster_id)})
            rows = explore.page(con, f, 0, n)
            s.heading(f"{level} cluster {cluster_id}: {name} ({size} properties, {explore.count(con, f)} battles)")
            s.raw("".join(example(*_battle_html(con, i)) for i in rows.battle_id))
    for category in opts.get("broad", []):
        f = BattleFilter(broad=category)
        s.heading(f"prompt category: {category} ({explore.count(con, f)} battles)")
        s.raw("".join(example(*_battle_html(con, i)) for i in explore.page(con, f, 0, n).battle_id))
    return s


def cje(con, n: int) -> Section:
    s = Section("cje", "Causal judge evaluation")
    have = explore.tables(con)
    if "cje.decision" in have:
        d = con.execute("SELECT * FROM cje.decision").df().iloc[0]
        s.note(f"{'Best policy by ' + d.estimator + ': ' + d.best_policy if d.best_policy else 'No best policy'}. {d.note}")
    estimates = con.execute("SELECT policy, estimator, v_hat, se, ci_low, ci_high, oracle_truth, reason "
                            "FROM cje.policy_estimates ORDER BY estimator, policy").df()
    s.table(estimates)
    shown = estimates.dropna(subset=["v_hat"])
    s.figure(px.scatter(shown, x="v_hat", y="policy", color="estimator", error_x=shown.ci_high - shown.v_hat,
                        error_x_minus=shown.v_hat - shown.ci_low, labels={"v_hat": "value on the oracle's scale"}))
    if "cje.calibration_curve" in have:
        curve = con.execute("SELECT * FROM cje.calibration_curve").df()
        s.heading("Judge → oracle calibration").figure(px.line(curve[curve.kind == "fit"], x="judge_score", y="oracle"))
    if "cje.weight_histogram" in have:
        histogram = con.execute("SELECT * FROM cje.weight_histogram").df()
        if len(histogram):
            s.heading("Importance weights (log10, normalized)").figure(
                px.bar(histogram, x="log10_bin", y="n", color="policy", barmode="group", log_y=True))
    if "cje.importance_weights" in have:
        for policy in [r[0] for r in con.execute("SELECT DISTINCT policy FROM cje.importance_weights ORDER BY 1").fetchall()]:
            s.heading(f"{policy}: the {n} prompts of largest weight")
            for prompt_id in examples.cje_prompts(con, policy, 0, n)[1].prompt_id:
                text, responses, weights = examples.cje_prompt(con, prompt_id)
                body = f'<div class="prompt">{render(text)}</div>' + weights.to_html(index=False, classes="data", border=0)
                body += "".join(f"<p><b>{r.policy} · {r.source} #{r.draw_idx}</b> · judge {r.judge_score} · "
                                f"oracle {r.oracle_label}</p><div class=\"response\">{render(r.response)}</div>"
                                for r in responses.itertuples())
                s.raw(example(f"prompt {prompt_id}", body))
    return s


def diff(con, n: int) -> Section:
    s = Section("diff", "Dataset difference")
    metrics = con.execute("SELECT stage, iteration, n, accuracy, accuracy_ci_low, accuracy_ci_high, auroc "
                          "FROM diff.iteration_metrics WHERE split = 'unseen' ORDER BY stage, iteration").df()
    s.note("Accuracy on rows the describer never saw, beside the length and words-only baselines.").table(metrics)
    for r in con.execute("SELECT iteration, description FROM diff.iterations ORDER BY iteration").fetchall():
        s.raw(example(f"iteration {r[0]}: the description", render(r[1])))
    for wrong in (False, True):
        s.heading(f"{n} rows the final prompt got {'wrong' if wrong else 'right or wrong'}")
        for row_id in examples.diff_rows(con, wrong_only=wrong, size=n)[1].row_id:
            row, history = examples.diff_row(con, row_id)
            s.raw(example(f"row {row_id} (side {row.side}, {row.split})",
                          render(row.text) + history.to_html(index=False, classes="data", border=0)))
    return s


def acts(con, n: int) -> Section:
    s = Section("acts", "Activation clusters")
    scores = con.execute("SELECT layer, method, k, mean AS final_score, ci_low, ci_high, grader_discriminates "
                         "FROM acts.clustering_scores WHERE metric = 'final_score' AND kind = 'graded' "
                         "ORDER BY mean DESC NULLS LAST").df()
    s.table(scores)
    runs = examples.acts_runs(con)
    if runs.empty:
        return s
    best = runs.iloc[0]
    layer, method, k = int(best.layer), best.method, int(best.k)
    clusters = examples.acts_clusters(con, layer, method, k)
    s.heading(f"layer {layer} · {method} · k {k}: each cluster, its examples and the grader's verdicts")
    for cid in sorted(clusters.cluster_id.unique()):
        one = clusters[clusters.cluster_id == cid]
        body = "<ul>" + "".join(f"<li>{render(t)}</li>" for t in examples.acts_examples(con, layer, method, k, int(cid), n)) + "</ul>"
        s.raw(example(f"{cid}. {one.title.iloc[0]}", body + one.drop(columns=["description"]).to_html(
            index=False, classes="data", border=0)))
    trace = con.execute("SELECT trace_id FROM acts.traces ORDER BY trace_id LIMIT 1").fetchone()
    if trace:
        t = examples.acts_trace(con, trace[0], layer, method, k)
        s.raw(example(f"trace {trace[0]}, sentence by sentence", coloured_sentences(zip(t.text, t.cluster_id, t.title))))
    return s
