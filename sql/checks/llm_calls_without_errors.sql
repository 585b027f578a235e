-- LLM calls that failed after their retries (the backend's message is in `error`).
-- severity: warn
SELECT called_at, asset, role, backend, model, error
FROM core.llm_calls
WHERE error IS NOT NULL
