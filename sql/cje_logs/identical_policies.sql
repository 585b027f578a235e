-- Target policies configured exactly like the base (backend, model, system prompt, sampling):
-- their responses come from the same distribution, so their importance weights must be 1.
SELECT t.policy, b.policy AS base_policy
FROM cje_logs.policies AS t
JOIN cje_logs.policies AS b
    ON b.is_base AND NOT t.is_base
    AND t.backend = b.backend AND t.model = b.model
    AND t.system_prompt IS NOT DISTINCT FROM b.system_prompt
    AND t.temperature = b.temperature AND t.top_p = b.top_p AND t.top_k = b.top_k AND t.min_p = b.min_p
    AND t.logprobs = b.logprobs AND t.max_tokens = b.max_tokens
