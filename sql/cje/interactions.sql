-- layer: result
-- One row per response of the analysis with everything the source tool's stochastic_log.jsonl
-- holds: its log-probabilities, judge score, calibrated reward and fold, and oracle label.
-- The base's log-probability belongs to logged rows only; an equi-join on (prompt_id, source),
-- since DuckDB 1.5 plans `ON ... AND r.source = 'logged'` as a nested-loop join (minutes at 1M rows).
WITH base AS (
    SELECT prompt_id, 'logged' AS source, logprob AS base_policy_logprob
    FROM cje.teacher_forced_logprobs
    WHERE policy = 'base'
)

SELECT r.prompt_id, r.policy, r.source, r.draw_idx, r.response, r.token_logprobs,
       base.base_policy_logprob, c.judge_score, c.reward AS calibrated_score, c.fold,
       o.oracle_label, o.split AS oracle_split
FROM cje.responses AS r
LEFT JOIN cje.calibrated_rewards AS c USING (prompt_id, policy, source, draw_idx)
LEFT JOIN cje.oracle_labels AS o USING (prompt_id, policy, source, draw_idx)
LEFT JOIN base USING (prompt_id, source)
