-- Target policies whose responses come from the base's distribution, so that their importance
-- weights must be exactly 1: those configured exactly like the base (backend, model, system
-- prompt, sampling), and those the run declares identical (identical_policies), whose scoring the
-- check cje_logs_identical_policies_have_weight_one then holds to the base's.
WITH targets AS (
    SELECT * FROM cje_logs.policies WHERE NOT is_base
),

base AS (
    SELECT * FROM cje_logs.policies WHERE is_base
)

SELECT t.policy, b.policy AS base_policy, t.declared_identical AS declared
FROM targets AS t
CROSS JOIN base AS b
WHERE t.declared_identical
   OR (t.backend = b.backend AND t.model = b.model
       AND t.system_prompt IS NOT DISTINCT FROM b.system_prompt
       AND t.temperature = b.temperature AND t.top_p = b.top_p AND t.top_k = b.top_k AND t.min_p = b.min_p
       AND t.logprobs = b.logprobs AND t.max_tokens = b.max_tokens)
