-- The built logs at a glance, per policy: rows at each stage, flagged or empty responses,
-- judge parse errors, oracle labels, and the log-ratio to the base (mean where the policy can
-- sample the base's response, share exactly 0, rows it cannot: weight 0)
-- with the effective sample size of the weights.
WITH base AS (
    SELECT tf.prompt_id, tf.logprob AS base_logprob
    FROM cje_logs.teacher_forced_logprobs AS tf
    JOIN cje_logs.policies AS p USING (policy)
    WHERE p.is_base
),

ratios AS (
    SELECT tf.policy, tf.logprob - b.base_logprob AS log_ratio, tf.flag, tf.outside_support
    FROM cje_logs.teacher_forced_logprobs AS tf
    JOIN base AS b USING (prompt_id)
),

weights AS (
    SELECT
        policy,
        count(*) AS teacher_forced,
        count(*) FILTER (WHERE flag IS NOT NULL) AS flagged_logprobs,
        -- a base response the policy cannot sample: weight 0
        count(*) FILTER (WHERE flag IS NULL AND outside_support) AS outside_support,
        avg(log_ratio) FILTER (WHERE flag IS NULL AND NOT outside_support) AS mean_log_ratio,
        avg(CASE WHEN log_ratio = 0 THEN 1.0 ELSE 0.0 END) FILTER (WHERE flag IS NULL) AS share_log_ratio_zero,
        power(sum(exp(log_ratio)) FILTER (WHERE flag IS NULL), 2)
            / sum(exp(2 * log_ratio)) FILTER (WHERE flag IS NULL)
            / count(*) FILTER (WHERE flag IS NULL) AS ess_fraction
    FROM ratios
    GROUP BY policy
),

responses AS (
    SELECT policy, count(*) AS responses, count(*) FILTER (WHERE is_empty) AS empty_responses,
           count(*) FILTER (WHERE prompt_truncated) AS truncated_prompts
    FROM cje_logs.responses
    GROUP BY policy
),

judged AS (
    SELECT policy, count(*) AS judged, count(*) FILTER (WHERE deterministic_error IS NOT NULL) AS judge_parse_errors,
           avg(deterministic_score) AS mean_judge_score
    FROM cje_logs.judge_scores
    GROUP BY policy
),

labelled AS (
    SELECT policy, count(*) AS oracle_labels, any_value(split) AS oracle_split, avg(oracle_label) AS mean_oracle_label
    FROM cje_logs.oracle_labels
    GROUP BY policy
)

SELECT
    p.policy, p.is_base, p.model,
    r.responses, r.empty_responses, r.truncated_prompts,
    w.teacher_forced, w.flagged_logprobs, w.outside_support, w.mean_log_ratio, w.share_log_ratio_zero, w.ess_fraction,
    j.judged, j.judge_parse_errors, j.mean_judge_score,
    l.oracle_labels, l.oracle_split, l.mean_oracle_label
FROM cje_logs.policies AS p
LEFT JOIN responses AS r USING (policy)
LEFT JOIN weights AS w USING (policy)
LEFT JOIN judged AS j USING (policy)
LEFT JOIN labelled AS l USING (policy)
ORDER BY NOT p.is_base, p.policy
