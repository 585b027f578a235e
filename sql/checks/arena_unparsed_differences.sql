-- Battles whose describer output did not parse after its retries: kept with the error and the raw
-- text, left out of the properties. A warning, since the analysis then rests on fewer battles.
-- severity: warn
SELECT battle_id, input_truncated, error, left(raw, 200) AS raw_start
FROM arena.battle_differences
WHERE error IS NOT NULL
