-- One row per behaviour property the describer found: A/B mapped to the real model names, empty
-- descriptions and unknown sides dropped, with the battle's winner and prompt category beside it.
WITH parsed AS (
    SELECT battle_id, from_json(properties_json, '["JSON"]') AS items
    FROM arena.battle_differences
    WHERE properties_json IS NOT NULL
),

exploded AS (
    SELECT battle_id, unnest(items) AS item, unnest(range(len(items))) AS ordinal
    FROM parsed
),

fields AS (
    SELECT
        battle_id,
        ordinal,
        item ->> 'model' AS side,
        trim(item ->> 'property_description') AS property_description,
        item ->> 'category' AS category,
        item ->> 'type' AS property_type,
        item ->> 'impact' AS impact,
        item ->> 'reason' AS reason,
        CAST(item -> 'evidence' AS VARCHAR) AS evidence,
        CAST(item ->> 'contains_errors' AS BOOLEAN) AS contains_errors,
        CAST(item ->> 'unexpected_behavior' AS BOOLEAN) AS unexpected_behavior,
        item ->> 'behavior_type' AS behavior_type
    FROM exploded
)

SELECT
    f.battle_id || ':' || f.ordinal AS property_id,
    f.battle_id,
    f.side,
    CASE f.side WHEN 'A' THEN b.model_a ELSE b.model_b END AS model,
    f.* EXCLUDE (battle_id, ordinal, side),
    b.winner,
    outcome_of(b.winner, f.side) AS outcome,
    c.broad_category,
    c.narrower_category
FROM fields AS f
JOIN arena.battles AS b USING (battle_id)
LEFT JOIN arena.prompt_categories AS c USING (battle_id)
WHERE f.side IN ('A', 'B') AND coalesce(f.property_description, '') <> ''
