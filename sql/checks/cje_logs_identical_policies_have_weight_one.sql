-- A policy configured exactly like the base must get log-ratio exactly 0 (weight 1.0) on every
-- row; anything else is a teacher-forcing bug, and the analysis must not run on such logs.
-- blocking: true
-- asset: cje_logs.teacher_forced_logprobs
WITH base AS (
    SELECT tf.prompt_id, tf.logprob
    FROM cje_logs.teacher_forced_logprobs AS tf
    JOIN cje_logs.policies AS p USING (policy)
    WHERE p.is_base
)

SELECT tf.policy, tf.prompt_id, tf.logprob, b.logprob AS base_logprob, tf.logprob - b.logprob AS log_ratio
FROM cje_logs.teacher_forced_logprobs AS tf
JOIN cje_logs.identical_policies AS i USING (policy)
JOIN base AS b USING (prompt_id)
WHERE tf.logprob IS DISTINCT FROM b.logprob
