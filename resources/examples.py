"""The examples behind the other three analyses' numbers, read for the app and the static report:
a dataset-difference row at every iteration, an activation trace's sentences with their clusters,
a CJE prompt's responses, scores and importance weights. Reader connections only; pages of rows in
SQL (LIMIT/OFFSET), so a large warehouse opens as fast as a small one."""

from __future__ import annotations

import pandas as pd

# ---- dataset difference -----------------------------------------------------------------------

DIFF_ROWS = """
    SELECT r.row_id, r.side, r.split, p.predicted, p.predicted = r.side AS correct, p.p_a,
           left(regexp_replace(r.text, '\\s+', ' ', 'g'), 200) AS text
    FROM diff.rows AS r
    JOIN diff.all_predictions AS p USING (row_id, side, split)
    WHERE p.stage = 'final'
      AND ($unseen_only = false OR r.split = 'unseen')
      AND ($wrong_only = false OR p.predicted IS DISTINCT FROM r.side)
"""


def diff_rows(con, wrong_only: bool = False, unseen_only: bool = False, number: int = 0,
              size: int = 25) -> tuple[int, pd.DataFrame]:
    """(how many, one page): each row under the final prompt: its side, the side predicted, right or wrong."""
    params = {"wrong_only": wrong_only, "unseen_only": unseen_only}
    total = con.execute(f"SELECT count(*) FROM ({DIFF_ROWS})", params).fetchone()[0]
    page = con.execute(f"{DIFF_ROWS} ORDER BY r.row_id LIMIT {int(size)} OFFSET {int(number) * int(size)}", params).df()
    return total, page


def diff_row(con, row_id: str) -> tuple[pd.Series, pd.DataFrame]:
    """A row's text and, per stage and iteration, P(A), the side predicted, right or wrong, and the
    description that iteration's prompt used."""
    row = con.execute("SELECT * FROM diff.rows WHERE row_id = ?", [row_id]).df().iloc[0]
    history = con.execute("""
        SELECT p.stage, p.iteration, p.p_a, p.predicted, p.predicted = p.side AS correct, i.description
        FROM diff.all_predictions AS p
        LEFT JOIN diff.iterations AS i ON i.iteration = p.iteration AND p.stage IN ('loop', 'final')
        WHERE p.row_id = ?
        ORDER BY p.stage = 'final', p.stage LIKE '%baseline', p.stage, p.iteration""", [row_id]).df()
    return row, history


# ---- activation clusters ----------------------------------------------------------------------

def acts_runs(con) -> pd.DataFrame:
    """Each (layer, method, k) clustered, with its graded final score where graded."""
    return con.execute("""
        SELECT a.layer, a.method, a.k, s.mean AS final_score
        FROM (SELECT DISTINCT layer, method, k FROM acts.cluster_assignments) AS a
        LEFT JOIN acts.clustering_scores AS s
          ON s.layer = a.layer AND s.method = a.method AND s.k = a.k AND s.metric = 'final_score' AND s.kind = 'graded'
        ORDER BY s.mean DESC NULLS LAST, a.layer, a.method, a.k""").df()


def acts_trace(con, trace_id: str, layer: int, method: str, k: int) -> pd.DataFrame:
    """A trace's sentences in order, each with its cluster and the cluster's title (first repetition)."""
    return con.execute("""
        SELECT s.idx, s.sentence_id, s.text, a.cluster_id, t.title
        FROM acts.sentences AS s
        LEFT JOIN acts.cluster_assignments AS a
          ON a.sentence_id = s.sentence_id AND a.layer = $layer AND a.method = $method AND a.k = $k
        LEFT JOIN (SELECT cluster_id, any_value(name ORDER BY repetition) AS title FROM acts.cluster_titles
                   WHERE layer = $layer AND method = $method AND k = $k GROUP BY cluster_id) AS t USING (cluster_id)
        WHERE s.trace_id = $trace
        ORDER BY s.idx""", {"trace": trace_id, "layer": layer, "method": method, "k": k}).df()


def acts_clusters(con, layer: int, method: str, k: int) -> pd.DataFrame:
    """Each cluster: its title and description (first repetition), size, and the grader's verdicts per
    metric: answers graded, for membership how many agree with the truth, the mean answer (1/0 for
    membership, 0-10 otherwise), and how many did not parse."""
    return con.execute("""
        WITH titles AS (
            SELECT cluster_id, any_value(name ORDER BY repetition) AS title,
                   any_value(description ORDER BY repetition) AS description, any_value(size) AS size
            FROM acts.cluster_titles WHERE layer = $layer AND method = $method AND k = $k GROUP BY cluster_id
        ),
        verdicts AS (
            SELECT cluster_id, metric, count(*) AS graded,
                   sum(((answer = 1) = truth)::INTEGER) AS agrees_with_truth,
                   avg(answer) AS mean_answer,
                   count(*) FILTER (WHERE error IS NOT NULL) AS unparsed
            FROM acts.grades WHERE layer = $layer AND method = $method AND k = $k GROUP BY cluster_id, metric
        )
        SELECT t.cluster_id, t.title, t.size, v.metric, v.graded, v.agrees_with_truth, v.mean_answer, v.unparsed,
               t.description
        FROM titles AS t LEFT JOIN verdicts AS v USING (cluster_id)
        ORDER BY t.cluster_id, v.metric""", {"layer": layer, "method": method, "k": k}).df()


def acts_examples(con, layer: int, method: str, k: int, cluster_id: int, n: int = 5) -> list[str]:
    return [r[0] for r in con.execute("""
        SELECT s.text FROM acts.cluster_assignments AS a JOIN acts.sentences AS s USING (sentence_id)
        WHERE a.layer = ? AND a.method = ? AND a.k = ? AND a.cluster_id = ? ORDER BY s.sentence_id LIMIT ?""",
        [layer, method, k, cluster_id, n]).fetchall()]


# ---- causal judge evaluation ------------------------------------------------------------------

CJE_PROMPTS = """
    WITH base AS (
        SELECT prompt_id, judge_score, calibrated_score, oracle_label FROM cje.interactions
        WHERE source = 'logged' AND draw_idx = 0
    )
    SELECT w.prompt_id, w.weight, w.normalized_weight, b.judge_score, b.calibrated_score, b.oracle_label,
           left(regexp_replace(p.prompt, '\\s+', ' ', 'g'), 160) AS prompt
    FROM cje.importance_weights AS w
    JOIN base AS b USING (prompt_id)
    LEFT JOIN cje.prompts AS p USING (prompt_id)
    WHERE w.policy = $policy
"""


def cje_prompts(con, policy: str, number: int = 0, size: int = 25) -> tuple[int, pd.DataFrame]:
    """Prompts with the base's logged response scored, by `policy`'s importance weight, largest
    first: the rows that carry its IPS estimate lead."""
    total = con.execute(f"SELECT count(*) FROM ({CJE_PROMPTS})", {"policy": policy}).fetchone()[0]
    page = con.execute(f"{CJE_PROMPTS} ORDER BY w.weight DESC NULLS LAST, w.prompt_id "
                       f"LIMIT {int(size)} OFFSET {int(number) * int(size)}", {"policy": policy}).df()
    return total, page


def cje_prompt(con, prompt_id: str) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """A prompt: its text; every response to it (logged, fresh draws, probes) with judge score,
    calibrated reward and oracle label; each policy's importance weight."""
    prompt = con.execute("SELECT any_value(prompt) FROM cje.prompts WHERE prompt_id = ?", [prompt_id]).fetchone()[0]
    responses = con.execute("""
        SELECT policy, source, draw_idx, judge_score, calibrated_score, oracle_label, response
        FROM cje.interactions WHERE prompt_id = ?
        ORDER BY source <> 'logged', policy, source, draw_idx""", [prompt_id]).df()
    weights = con.execute("SELECT policy, weight, normalized_weight, log_ratio, problem FROM cje.importance_weights "
                          "WHERE prompt_id = ? ORDER BY policy", [prompt_id]).df()
    return prompt or "", responses, weights
