-- LLM usage per asset, role, backend and model: calls, how many the cache answered, tokens and
-- latency of the calls that reached a backend, estimated cost, errors and truncated inputs.
WITH calls AS (
    -- calls made outside an asset (a notebook, a benchmark) are grouped as such
    SELECT * REPLACE (coalesce(asset, '(outside an asset)') AS asset)
    FROM core.llm_calls
),

backend_calls AS (
    SELECT * FROM calls WHERE NOT cached AND error IS NULL
),

usage AS (
    SELECT
        asset, role, backend, model,
        count(*) AS backend_calls,
        sum(prompt_tokens) AS prompt_tokens,
        sum(completion_tokens) AS completion_tokens,
        avg(latency_s) AS mean_latency_s,
        quantile_cont(latency_s, 0.95) AS p95_latency_s,
        sum(cost_usd) AS cost_usd
    FROM backend_calls
    GROUP BY ALL
),

outcomes AS (
    SELECT
        asset, role, backend, model,
        count(*) AS calls,
        count(*) FILTER (WHERE cached) AS cache_hits,
        count(*) FILTER (WHERE error IS NOT NULL) AS errors,
        count(*) FILTER (WHERE truncated) AS truncated_inputs,
        min(called_at) AS first_call_at,
        max(called_at) AS last_call_at
    FROM calls
    GROUP BY ALL
)

SELECT
    o.asset, o.role, o.backend, o.model,
    o.calls,
    o.cache_hits,
    o.cache_hits / o.calls AS cache_hit_rate,
    coalesce(u.backend_calls, 0) AS backend_calls,
    o.errors,
    o.truncated_inputs,
    u.prompt_tokens,
    u.completion_tokens,
    u.mean_latency_s,
    u.p95_latency_s,
    u.cost_usd,
    o.first_call_at,
    o.last_call_at
FROM outcomes AS o
LEFT JOIN usage AS u USING (asset, role, backend, model)
ORDER BY o.asset, o.role, o.model
