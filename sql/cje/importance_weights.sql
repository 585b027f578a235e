-- Importance weights per logged prompt and policy (the base too, whose weights are 1): the
-- log-ratio log pi(a|x) - log pi0(a|x) of the logged base response, the raw weight exp(log-ratio)
-- and the self-normalised weight (mean one over the policy's valid rows). A target log-probability
-- of -inf is a response the policy cannot sample (outside its top-p / top-k nucleus): weight 0.
-- A row whose log-probabilities are missing, NaN, +inf or positive, whose base log-probability is
-- -inf (an infinite weight), or whose weight overflows, is flagged in `problem` and gets no
-- weight; it is kept so that the count of such rows stays visible.
WITH base_logprobs AS (
    SELECT prompt_id, logprob AS base_logprob
    FROM cje.teacher_forced_logprobs
    WHERE policy = 'base'
),

policy_logprobs AS (
    SELECT lp.prompt_id, lp.policy, lp.logprob AS policy_logprob
    FROM cje.teacher_forced_logprobs AS lp
    JOIN cje.policies AS p USING (policy)
),

checked AS (
    SELECT
        b.prompt_id,
        p.policy,
        b.base_logprob,
        p.policy_logprob,
        CASE
            WHEN b.base_logprob IS NULL OR p.policy_logprob IS NULL THEN 'missing log-probability'
            WHEN b.base_logprob = -'inf'::DOUBLE THEN 'base log-probability -inf: infinite weight'
            WHEN isnan(b.base_logprob) OR isnan(p.policy_logprob) THEN 'NaN log-probability'
            WHEN b.base_logprob > 0 OR p.policy_logprob > 0 THEN 'positive log-probability'
            WHEN p.policy_logprob - b.base_logprob > 709 THEN 'weight overflows a double'
        END AS problem
    FROM base_logprobs AS b
    JOIN policy_logprobs AS p USING (prompt_id)
),

weighted AS (
    SELECT
        *,
        CASE WHEN problem IS NULL THEN policy_logprob - base_logprob END AS log_ratio,
        CASE WHEN problem IS NULL THEN exp(policy_logprob - base_logprob) END AS weight
    FROM checked
),

-- a GROUP BY joined back, not a window: a window partitions all 4M rows at 1M prompts
mean_weights AS (
    SELECT policy, avg(weight) AS mean_weight
    FROM weighted
    GROUP BY policy
)

SELECT
    w.prompt_id,
    w.policy,
    w.base_logprob,
    w.policy_logprob,
    w.log_ratio,
    w.weight,
    w.weight / m.mean_weight AS normalized_weight,
    w.problem
FROM weighted AS w
JOIN mean_weights AS m USING (policy)
