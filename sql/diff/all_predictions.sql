-- P(A) of every row at every stage: the LLM classifier's (`loop` iterations, `final`) and the
-- baselines that need no LLM (`length_baseline`, `lexical_baseline`), with the row's side and split,
-- and the side predicted: A where P(A) >= 0.5 (the one place this rule is written), none where the
-- classifier abstained.
WITH stages AS (
    SELECT stage, iteration, row_id, p_a, abstained FROM diff.predictions
    UNION ALL
    SELECT stage, iteration, row_id, p_a, abstained FROM diff.baseline_predictions
)

SELECT
    s.stage, s.iteration, s.row_id, r.side, r.split, s.p_a, s.abstained,
    CASE WHEN s.abstained THEN NULL WHEN s.p_a >= 0.5 THEN 'A' ELSE 'B' END AS predicted
FROM stages AS s
JOIN diff.rows AS r USING (row_id)
