-- The field rules of cje-eval's records, once: every logged row and every fresh draw or probe row,
-- read as one JSON value per line (raw_logged, raw_draws: see inputs.py), gets its typed values and
-- `problem`, the first rule it breaks (NULL when it breaks none), which inputs.py reports with the
-- row's file and line (or, for the built logs, its table row). Absent and null differ: a key that
-- is absent is NULL here, a key that is null holds the JSON value null.

CREATE MACRO absent_or_null(v) AS v IS NULL OR json_type(v) = 'NULL';
CREATE MACRO is_number(v) AS json_type(v) IN ('BIGINT', 'UBIGINT', 'DOUBLE');
CREATE MACRO shown(v) AS left(v::VARCHAR, 60);
-- Each row is parsed once: its JSON type (`kind`), its keys, and the fields' values in one
-- json_extract; the rules below read those (a JSON function on the whole row would parse it again).
-- Python's name for the JSON value's type, as the message for a line that is not an object says it
CREATE MACRO python_type(kind) AS CASE kind WHEN 'ARRAY' THEN 'list' WHEN 'VARCHAR' THEN 'str'
    WHEN 'DOUBLE' THEN 'float' WHEN 'BOOLEAN' THEN 'bool' WHEN 'NULL' THEN 'NoneType' ELSE 'int' END;
CREATE MACRO not_object(kind) AS CASE WHEN kind <> 'OBJECT'
    THEN 'a JSON ' || python_type(kind) || ', not an object: JSONL holds one object per line' END;
-- DuckDB keeps the first of a repeated key, Python's json the last: a line that repeats one is refused
CREATE MACRO repeats_a_key(keys) AS CASE WHEN len(keys) > len(list_distinct(keys))
    THEN 'a key appears twice in the object: ' || array_to_string(list_sort(list_distinct(
        [key FOR key IN keys IF len(list_filter(keys, x -> x = key)) > 1])), ', ') END;
CREATE MACRO too_long(chars) AS CASE WHEN chars > 2 * getvariable('max_text_chars')
    THEN format('{:,} characters in one row; rows over {:,} are refused', chars, 2 * getvariable('max_text_chars')) END;
CREATE MACRO not_number(field, v) AS CASE WHEN NOT absent_or_null(v) AND NOT is_number(v)
    THEN field || ' is ' || shown(v) || ', not a number' END;
CREATE MACRO not_text(field, v, required) AS CASE WHEN (required OR NOT absent_or_null(v)) AND json_type(v) IS DISTINCT FROM 'VARCHAR'
    THEN field || ' is ' || coalesce(shown(v), 'absent') || ', not text' END;
-- a judge score: every scored row needs a finite one (calibration and the estimators use them all)
CREATE MACRO not_finite_judge(v) AS coalesce(not_number('judge_score', v),
    CASE WHEN absent_or_null(v) OR NOT isfinite(v::DOUBLE)
         THEN 'judge_score is ' || CASE WHEN absent_or_null(v) THEN 'null' ELSE v::DOUBLE::VARCHAR END
              || '; every row needs a finite judge score (score it, or leave the row out)' END);
-- an oracle label: null or NaN (none), else in [0, 1]
CREATE MACRO bad_label(v) AS coalesce(not_number('oracle_label', v),
    CASE WHEN is_number(v) AND NOT isnan(v::DOUBLE) AND NOT v::DOUBLE BETWEEN 0 AND 1
         THEN 'oracle_label ' || printf('%g', v::DOUBLE) || ' is outside [0, 1]' END);
-- metadata.judge_variance (the uncertainty judge's own variance, a calibration covariate): null or >= 0
CREATE MACRO bad_variance(v) AS coalesce(not_number('metadata.judge_variance', v),
    CASE WHEN is_number(v) AND NOT (isfinite(v::DOUBLE) AND v::DOUBLE >= 0)
         THEN 'metadata.judge_variance ' || v::DOUBLE::VARCHAR || ' is not a finite number >= 0' END);
-- the number as a DOUBLE; absent, null and NaN as NULL
CREATE MACRO as_double(v) AS CASE WHEN is_number(v) AND NOT isnan(v::DOUBLE) THEN v::DOUBLE END;
-- metadata.token_logprobs, where a record has them (the built logs do): a list of numbers (null: NaN)
CREATE MACRO token_values(tokens) AS json_extract(tokens, '$[*]');
CREATE MACRO first_bad_token(tokens) AS list_position([is_number(e) OR json_type(e) = 'NULL' FOR e IN token_values(tokens)], false);
CREATE MACRO bad_tokens(tokens) AS CASE
    WHEN absent_or_null(tokens) THEN NULL
    WHEN json_type(tokens) <> 'ARRAY' THEN 'metadata.token_logprobs is ' || shown(tokens) || ', not a list of numbers'
    WHEN first_bad_token(tokens) IS NOT NULL
    THEN 'metadata.token_logprobs[' || (first_bad_token(tokens) - 1) || '] is '
         || shown(token_values(tokens)[first_bad_token(tokens)]) || ', not a number' END;
CREATE MACRO as_tokens(tokens) AS CASE WHEN json_type(tokens) = 'ARRAY'
    THEN [coalesce(CASE WHEN is_number(e) THEN e::DOUBLE END, 'nan'::DOUBLE) FOR e IN token_values(tokens)] END;
-- a prompt id: text or a whole number; a draw names it at the top level, a logged row there or in
-- metadata.prompt_id (an empty or zero one at the top does not count)
CREATE MACRO truthy(v) AS NOT absent_or_null(v) AND v::VARCHAR NOT IN ('""', '0', '0.0', 'false', '[]', '{}');
CREATE MACRO bad_prompt_id(v) AS CASE
    WHEN NOT truthy(v) THEN 'no prompt_id (top level or metadata.prompt_id)'
    WHEN json_type(v) NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT') THEN 'prompt_id is ' || shown(v) || ', not text or a whole number' END;
CREATE MACRO missing(fields, vals) AS CASE WHEN len(list_filter(fields, (f, i) -> vals[i] IS NULL)) > 0
    THEN 'missing field(s) ' || array_to_string(list_filter(fields, (f, i) -> vals[i] IS NULL), ', ') END;
CREATE MACRO bad_metadata(v) AS CASE WHEN NOT absent_or_null(v) AND json_type(v) <> 'OBJECT'
    THEN 'metadata is ' || shown(v) || ', not an object' END;

CREATE TABLE logged AS
WITH parsed AS (
    SELECT k, row_name, length(obj::VARCHAR) AS chars, json_type(obj) AS kind,
           CASE WHEN json_type(obj) = 'OBJECT' THEN json_keys(obj) ELSE [] END AS keys,
           json_extract(obj, ['$.prompt', '$.response', '$.base_policy_logprob', '$.judge_score',
                              '$.target_policy_logprobs', '$.oracle_label', '$.metadata', '$.prompt_id',
                              '$.metadata.prompt_id', '$.metadata.token_logprobs', '$.metadata.judge_variance']) AS f
    FROM raw_logged
),
fields AS (
    SELECT k, row_name, chars, kind, keys, f[1] AS prompt, f[2] AS response, f[3] AS base, f[4] AS judge,
           f[5] AS targets, f[6] AS oracle, f[7] AS metadata, f[1:4] AS required,
           CASE WHEN truthy(f[8]) THEN f[8] ELSE f[9] END AS pid, f[10] AS tokens, f[11] AS variance
    FROM parsed
),
bad_target_values AS (  -- the first target (by name) whose log-probability is not a number
    SELECT k, 'target_policy_logprobs.' || arg_min(t.key, t.key) || ' is ' || shown(arg_min(t.value, t.key))
              || ', not a number' AS problem
    FROM fields, json_each(fields.targets) AS t
    WHERE json_type(fields.targets) = 'OBJECT' AND NOT (is_number(t.value) OR json_type(t.value) = 'NULL')
    GROUP BY k
)
SELECT
    k, row_name, pid->>'$' AS prompt_id, prompt->>'$' AS prompt, response->>'$' AS response,
    as_double(base) AS base_logprob, targets, as_double(judge) AS judge_score, as_double(oracle) AS oracle_label,
    as_tokens(tokens) AS token_logprobs, as_double(variance) AS judge_variance,
    coalesce(
        too_long(chars), not_object(kind), repeats_a_key(keys),
        missing(['prompt', 'response', 'base_policy_logprob', 'judge_score'], required),
        bad_metadata(metadata), bad_prompt_id(pid),
        not_text('prompt', prompt, true), not_text('response', response, true),
        not_number('base_policy_logprob', base),
        CASE WHEN NOT absent_or_null(targets) AND json_type(targets) <> 'OBJECT'
             THEN 'target_policy_logprobs is not an object of policy -> log-probability' END,
        bad_target_values.problem, not_finite_judge(judge), bad_label(oracle), bad_tokens(tokens),
        bad_variance(variance)
    ) AS problem
FROM fields LEFT JOIN bad_target_values USING (k)
ORDER BY k;

CREATE TABLE draws AS
WITH parsed AS (
    SELECT file_rank, policy, source, k, row_name, length(obj::VARCHAR) AS chars, json_type(obj) AS kind,
           CASE WHEN json_type(obj) = 'OBJECT' THEN json_keys(obj) ELSE [] END AS keys,
           json_extract(obj, ['$.prompt_id', '$.judge_score', '$.oracle_label', '$.prompt', '$.response',
                              '$.draw_idx', '$.metadata', '$.metadata.token_logprobs',
                              '$.metadata.judge_variance']) AS f
    FROM raw_draws
),
fields AS (
    SELECT file_rank, policy, source, k, row_name, chars, kind, keys, f[1] AS pid, f[2] AS judge, f[3] AS oracle,
           f[4] AS prompt, f[5] AS response, f[6] AS draw, f[7] AS metadata, f[8] AS tokens, f[9] AS variance,
           CASE source WHEN 'fresh' THEN f[1:2] ELSE [f[1], f[3]] END AS required
    FROM parsed
)
SELECT
    file_rank, policy, source, k, row_name, pid->>'$' AS prompt_id, coalesce(prompt->>'$', '') AS prompt,
    coalesce(response->>'$', '') AS response, coalesce(CASE WHEN is_number(draw) THEN draw::DOUBLE::BIGINT END, 0) AS draw_idx,
    CASE WHEN is_number(judge) THEN judge::DOUBLE END AS judge_score, as_double(oracle) AS oracle_label,
    as_tokens(tokens) AS token_logprobs, as_double(variance) AS judge_variance,
    coalesce(
        too_long(chars), not_object(kind), repeats_a_key(keys),
        missing(CASE source WHEN 'fresh' THEN ['prompt_id', 'judge_score'] ELSE ['prompt_id', 'oracle_label'] END,
                required),
        bad_metadata(metadata),
        CASE WHEN absent_or_null(pid) OR json_type(pid) NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT')
             THEN 'prompt_id is ' || shown(pid) || ', not text or a whole number' END,
        not_text('prompt', prompt, false), not_text('response', response, false),
        CASE WHEN NOT absent_or_null(draw) AND NOT (is_number(draw) AND isfinite(draw::DOUBLE)
                  AND draw::DOUBLE = floor(draw::DOUBLE) AND draw::DOUBLE >= 0)
             THEN 'draw_idx is ' || shown(draw) || ', not a whole number >= 0' END,
        -- a probe may be unscored (null); a fresh draw may not
        CASE WHEN source = 'fresh' OR NOT absent_or_null(judge) THEN not_finite_judge(judge) END,
        bad_label(oracle), bad_tokens(tokens), bad_variance(variance)
    ) AS problem
FROM fields
ORDER BY file_rank, k;
