-- Teacher-forced log-probabilities that cannot be right: 0.0 for a long response (the source
-- pipeline's sign of a teacher-forcing bug), positive, or non-finite.
-- severity: warn
SELECT policy, prompt_id, logprob, n_tokens, flag
FROM cje_logs.teacher_forced_logprobs
WHERE flag IS NOT NULL
