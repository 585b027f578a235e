-- The logged rows whose oracle label calibrates the judge (split 'calibration'), with their judge
-- score: what cje.calibrated_rewards fits the isotonic calibrator on.
SELECT j.prompt_id, j.judge_score, o.oracle_label
FROM cje.oracle_labels AS o
JOIN cje.judge_scores AS j USING (prompt_id, policy, source, draw_idx)
WHERE o.split = 'calibration' AND j.judge_score IS NOT NULL
