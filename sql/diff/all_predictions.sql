-- P(A) of every row at every stage: the LLM classifier's (`loop` iterations, `final`) and the
-- baselines that need no LLM (`length_baseline`, `lexical_baseline`), with the row's side and split.
WITH stages AS (
    SELECT stage, iteration, row_id, p_a, abstained FROM diff.predictions
    UNION ALL
    SELECT stage, iteration, row_id, p_a, abstained FROM diff.baseline_predictions
)

SELECT s.stage, s.iteration, s.row_id, r.side, r.split, s.p_a, s.abstained
FROM stages AS s
JOIN diff.rows AS r USING (row_id)
