-- The logged rows whose oracle label calibrates the judge (split 'calibration'), with their judge
-- score and the judge's own variance: what cje.calibrated_rewards fits the calibrator on. In key
-- order, so that a fit's ties fall the same way in every run.
SELECT j.prompt_id, j.policy, j.source, j.draw_idx, j.judge_score, j.judge_variance, o.oracle_label
FROM cje.oracle_labels AS o
JOIN cje.judge_scores AS j USING (prompt_id, policy, source, draw_idx)
WHERE o.split = 'calibration' AND j.judge_score IS NOT NULL
ORDER BY j.prompt_id, j.policy, j.source, j.draw_idx
