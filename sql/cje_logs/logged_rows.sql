-- The built logs in the shape of cje-eval's files, one row per response: what `cje.logged_data`
-- ingests when its source is `cje_logs`, and what `cje_logs/export` writes as JSONL. The base
-- policy is named `base`; its rows carry every policy's teacher-forced log-probability. The judge
-- score is the deterministic one, or the expected digit where that did not parse.
WITH teacher_forced AS (
    SELECT
        prompt_id,
        any_value(logprob) FILTER (WHERE policies.is_base) AS base_policy_logprob,
        to_json(map_from_entries(
            list(struct_pack(k := policy, v := logprob)) FILTER (WHERE NOT policies.is_base)
        )) AS target_policy_logprobs
    FROM cje_logs.teacher_forced_logprobs
    JOIN cje_logs.policies AS policies USING (policy)
    GROUP BY prompt_id
)

SELECT
    responses.prompt_id,
    CASE WHEN policies.is_base THEN 'base' ELSE responses.policy END AS policy,
    responses.policy AS built_policy,
    policies.is_base,
    responses.draw_idx,
    prompts.prompt,
    responses.response,
    responses.token_logprobs,
    coalesce(judge.deterministic_score, judge.uncertainty_score) AS judge_score,
    judge.deterministic_score,
    judge.uncertainty_score,
    judge.uncertainty_variance,
    oracle.oracle_label,
    oracle.split,
    teacher_forced.base_policy_logprob,
    teacher_forced.target_policy_logprobs
FROM cje_logs.responses AS responses
JOIN cje_logs.prompts AS prompts USING (prompt_id)
JOIN cje_logs.policies AS policies USING (policy)
LEFT JOIN cje_logs.judge_scores AS judge USING (prompt_id, policy, draw_idx)
LEFT JOIN cje_logs.oracle_labels AS oracle USING (prompt_id, policy, draw_idx)
LEFT JOIN teacher_forced USING (prompt_id)
ORDER BY NOT policies.is_base, responses.policy, responses.prompt_id, responses.draw_idx
