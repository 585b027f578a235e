-- Each policy's importance weight of every usable logged row beside that row's calibrated reward:
-- what the IPS-family and doubly robust estimators of cje.policy_estimates average.
SELECT w.policy, w.prompt_id, w.weight, r.judge_score, r.fold, r.reward
FROM cje.importance_weights AS w
JOIN cje.calibrated_rewards AS r
  ON r.prompt_id = w.prompt_id AND r.policy = 'base' AND r.source = 'logged'
WHERE w.problem IS NULL
