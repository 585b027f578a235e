"""Each analysis' headline from the latest run, for the Home page: the result, the input it came
from (the step's run config in core.materializations) and the verdict of its control or guard
rails beside it. Each returns None when the analysis has not been materialized."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from analysis.cje_report import headline_estimator
from analysis.leaderboard import board, interval_figure
from snapshot import exists


@dataclass
class Finding:
    title: str
    source: str     # the input it came from, counted from the tables the finding reads
    verdict: str    # what its control or guard rails say
    table: pd.DataFrame
    figure: object = None   # a plot, where people would rather look than read
    page: str | None = None  # the app page with everything behind it


def leaderboard(con) -> Finding | None:
    if not exists(con, "arena", "model_ratings"):
        return None
    ratings = con.execute("SELECT * FROM arena.model_ratings").df()
    cfg = _config(con, "arena.response_style")
    n = con.execute("SELECT count(*) FROM arena.rating_battles").fetchone()[0]
    table = board(ratings).head(10)
    top = ratings[(ratings.control == "none") & (ratings.category == "all") & ratings.rated]
    top = top[top.model.isin(table.model)]
    shared = top[top["rank"] == 1].model.tolist()
    verdict = (f"{shared[0]} ranks first, and no other model's interval allows it to" if len(shared) == 1 else
               f"{len(shared)} models can rank first within their intervals: {', '.join(shared)}")
    return Finding("Which model is better: Bradley-Terry ratings (95% intervals)",
                   f"{n:,} battles of {cfg.get('dataset') or cfg.get('source') or 'unknown'}", verdict, table,
                   interval_figure(ratings[ratings.model.isin(table.model)], height=320), "pages/0_Leaderboard.py")


def _config(con, table: str) -> dict:
    row = con.execute("SELECT config FROM core.materializations WHERE table_name = ?", [table]).fetchone()
    return json.loads(row[0]) if row and row[0] else {}


def arena(con) -> Finding | None:
    if not exists(con, "arena", "model_style_metrics"):
        return None
    cfg = _config(con, "arena.battles")
    n_style = con.execute("SELECT count(DISTINCT battle_id) FROM arena.response_style").fetchone()[0]
    n_described = (con.execute("SELECT count(DISTINCT battle_id) FROM arena.behavior_properties").fetchone()[0]
                   if exists(con, "arena", "behavior_properties") else 0)
    table = con.sql("""
        SELECT model, feature AS behaviour, 'style' AS kind, rate, rate_others, win_rate_with, win_rate_without, p_holm
        FROM arena.model_style_metrics WHERE p_holm < 0.05
        UNION ALL
        SELECT model, cluster_label, 'cluster', proportion, proportion_others, win_rate_with, win_rate_without, p_holm
        FROM arena.model_cluster_metrics WHERE level = 'fine' AND p_holm < 0.05
        ORDER BY p_holm LIMIT 8""").df()
    grounded = (con.sql("SELECT any_value(describer_grounded) FROM arena.describer_control").fetchone()[0]
                if exists(con, "arena", "describer_control") else None)
    verdict = {True: "the describer quotes the response it describes more than the other (grounded)",
               False: "the describer's quotes are not grounded in the responses: read its behaviours as noise",
               None: "no describer control yet"}[grounded]
    if exists(con, "arena", "behaviour_effects"):
        k, n, bias = con.sql("SELECT count(*) FILTER (WHERE p_holm < 0.05), count(*), max(position_bias_rate) "
                             "FROM arena.behaviour_effects").fetchone()
        verdict += (f"; measured on every battle in both orders (the rubric), {k} of {n} behaviours go with winning "
                    f"with the models held fixed (Holm p < 0.05)"
                    + (f", the scorer followed the position in up to {bias:.0%} of battles" if bias else ""))
    return Finding("Arena behaviours: what goes with winning (Holm p < 0.05)",
                   f"style: {n_style:,} battles (no LLM); behaviour clusters: the {n_described:,} battles described, "
                   f"of {cfg.get('dataset') or cfg.get('source') or 'unknown'}", verdict, table,
                   page="pages/5_Arena_behaviours.py")


def diff(con) -> Finding | None:
    if not exists(con, "diff", "iteration_metrics"):
        return None
    sources = con.sql("SELECT string_agg(DISTINCT source, ' vs ') FROM diff.rows").fetchone()[0]
    table = con.sql("""
        SELECT stage, iteration, n, accuracy, accuracy_ci_low, accuracy_ci_high, auroc
        FROM diff.iteration_metrics WHERE split = 'unseen'
        QUALIFY iteration = max(iteration) OVER (PARTITION BY stage)
        ORDER BY accuracy DESC""").df()
    best = table[~table.stage.str.endswith("_baseline")].accuracy.max() if len(table) else float("nan")
    words = table[table.stage == "lexical_baseline"].accuracy.max() if len(table) else float("nan")
    verdict = (f"the LLM's description ({best:.0%}) beats the words-only baseline ({words:.0%}) on unseen rows"
               if best > words else f"the LLM's description ({best:.0%}) does not beat words alone ({words:.0%})")
    return Finding("Dataset difference: held-out accuracy of telling A from B", sources or "unknown", verdict, table,
                   page="pages/4_Dataset_difference.py")


def cje(con) -> Finding | None:
    if not exists(con, "cje", "policy_estimates"):
        return None
    estimates = con.sql("SELECT * FROM cje.policy_estimates").df()
    name, rule = headline_estimator(estimates, "auto")
    table = estimates[estimates.estimator == name][["policy", "v_hat", "ci_low", "ci_high", "oracle_truth", "reason"]]
    cfg = _config(con, "cje.policies")
    source = cfg.get("logged_data") if cfg.get("source", "files") == "files" else "the built logs (cje_logs)"
    return Finding(f"CJE: each policy's value, {rule}", source or "unknown", _decision(con), table,
                   page="pages/3_CJE.py")


def _decision(con) -> str:
    """The decision sentence (cje.decision), as the CJE page leads with it."""
    if not exists(con, "cje", "decision"):
        return "no decision yet (materialize cje/decision)"
    d = con.sql("SELECT * FROM cje.decision").df().iloc[0]
    best = f"Best policy by {d.estimator}: {d.best_policy}" if d.best_policy else "No best policy"
    return f"{best}. {'Decision-ready. ' if d.decision_ready else ''}{d.note}"


def acts(con) -> Finding | None:
    if not exists(con, "acts", "clustering_scores"):
        return None
    table = con.sql("""
        SELECT layer, method, k, mean AS final_score, ci_low, ci_high, grader_discriminates
        FROM acts.clustering_scores WHERE metric = 'final_score' AND kind = 'graded'
        ORDER BY mean DESC NULLS LAST LIMIT 5""").df()
    source = con.sql("SELECT any_value(source) FROM acts.traces").fetchone()[0]
    discriminates = bool(table.grader_discriminates.any()) if len(table) else False
    verdict = ("the grader tells a right title from a shuffled one" if discriminates else
               "the grader accepts any title alike: these scores measure the grader, not the names")
    return Finding("Activation clusters: the best layer x method x k by graded score", source or "unknown", verdict, table,
                   page="pages/6_Activation_clusters.py")


FINDINGS = (leaderboard, cje, diff, acts, arena)
