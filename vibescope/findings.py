"""What the demo shows before any LLM step: findings on the bundled real data that need no model
(the style of the 999 bundled Arena battles, the word baselines of the bundled dataset pair, the
CJE estimates of cje-eval's real Arena sample), read from the warehouse."""

from __future__ import annotations

# the assets behind them: no LLM, no hidden states (the CJE sample carries its judge and oracle)
NO_LLM_SELECTION = ('group:cje or key:"arena/response_style" or key:"arena/source_battles" or key:"diff/rows" '
                    'or key:"diff/baseline_predictions" or key:"diff/distinguishing_terms"')

STYLE = """
    -- per style feature: how often the side that shows it (the longer answer, the one with bold...)
    -- wins the decided battles
    SELECT feature,
           count(*) FILTER (WHERE shows AND outcome IN ('win', 'loss')) AS decided_showing,
           count(*) FILTER (WHERE shows AND outcome = 'win')
               / nullif(count(*) FILTER (WHERE shows AND outcome IN ('win', 'loss')), 0) AS win_rate_showing,
           count(*) FILTER (WHERE NOT shows AND outcome = 'win')
               / nullif(count(*) FILTER (WHERE NOT shows AND outcome IN ('win', 'loss')), 0) AS win_rate_not
    FROM arena.response_style
    GROUP BY feature
    ORDER BY abs(win_rate_showing - win_rate_not) DESC NULLS LAST
"""
BASELINES = """
    -- the word baselines' accuracy on the rows no fit saw
    SELECT b.stage, count(*) AS unseen_rows,
           avg(CASE WHEN (b.p_a > 0.5) = (r.side = 'A') THEN 1.0 ELSE 0.0 END) AS accuracy
    FROM diff.baseline_predictions AS b
    JOIN diff.rows AS r USING (row_id)
    WHERE r.split = 'unseen'
    GROUP BY b.stage ORDER BY b.stage
"""
CJE = """
    SELECT policy, estimator, v_hat, ci_low, ci_high, oracle_truth, left(reason, 60) AS reason
    FROM cje.policy_estimates
    WHERE estimator = 'dr'
    ORDER BY policy
"""


def print_findings(con) -> None:
    from vibescope.run import show

    show("arena (999 bundled battles, no LLM): win rate of the side showing a style feature vs not",
         con.sql(STYLE).df())
    show("dataset difference (bundled pair, no LLM): what words alone get right on unseen rows",
         con.sql(BASELINES).df())
    show("CJE (cje-eval's real Arena sample): doubly robust estimates, 95% intervals, probe truth",
         con.sql(CJE).df())


RUBRIC = """
    SELECT sum(battles) AS verdicts, sum(consistent) AS consistent, sum(follows_position) AS followed_position
    FROM arena.behaviour_position_bias
"""


def print_rubric_check(con) -> None:
    """After the demo's run: what the arena rubric's scorer did (machinery on the embedded model)."""
    if not con.sql("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'arena' "
                   "AND table_name = 'behaviour_position_bias'").fetchone()[0]:
        return
    verdicts, consistent, followed = con.sql(RUBRIC).fetchone()
    if verdicts:
        print(f"\narena rubric (every battle x behaviour, asked in both orders): {consistent} of {verdicts} verdicts "
              f"consistent, {followed} followed the position (arena.behaviour_effects; app: Arena behaviours)")
