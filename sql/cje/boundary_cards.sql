-- Per policy, how much of the judge-score mass its estimate reads lies outside the range the oracle
-- labels cover (cje-eval 0.9's coverage badge, cje/diagnostics/reward_boundary.py): the calibrator
-- extrapolates flatly there, so at 5% or more no level claim is made (REFUSE-LEVEL). Below that, a
-- card is CAUTION where 20% or more of the policy's calibrated rewards sit within 5% of the
-- labelled rewards' bounds (boundary effects), else OK. A policy with fresh draws is read on them
-- (direct and DR); one without, on the logged rows under its importance weights (what vibescope
-- adds for the off-policy estimators).
WITH labelled AS (  -- the calibration slice: its judge scores, and the full calibrator's rewards on them
    SELECT min(r.judge_score) AS s_min, max(r.judge_score) AS s_max,
           min(r.reward_full) AS r_min, max(r.reward_full) AS r_max
    FROM cje.calibrated_rewards AS r
    JOIN cje.calibration_labels AS c USING (prompt_id)
    WHERE r.policy = 'base' AND r.source = 'logged'
),
with_fresh_draws AS (
    SELECT DISTINCT policy FROM cje.calibrated_rewards WHERE source = 'fresh'
),
evaluated AS (  -- what each policy's estimate reads, with the weight each row has in it
    SELECT policy, 'fresh draws' AS read_on, judge_score, reward_full AS reward, 1.0 AS weight
    FROM cje.calibrated_rewards WHERE source = 'fresh'
    UNION ALL
    SELECT w.policy, 'logged rows, importance-weighted', w.judge_score, r.reward_full, w.weight
    FROM cje.weighted_rewards AS w
    JOIN cje.calibrated_rewards AS r ON r.policy = 'base' AND r.source = 'logged' AND r.prompt_id = w.prompt_id
    WHERE w.policy NOT IN (SELECT policy FROM with_fresh_draws) AND w.weight > 0
),
shares AS (
    SELECT e.policy, any_value(e.read_on) AS read_on, count(*) AS n_scores,
           sum(e.weight * (e.judge_score < l.s_min OR e.judge_score > l.s_max)::INT) / sum(e.weight) AS out_of_range,
           sum(e.weight * (e.reward <= l.r_min + 0.05 * (l.r_max - l.r_min)
                           OR e.reward >= l.r_max - 0.05 * (l.r_max - l.r_min))::INT) / sum(e.weight) AS saturation,
           any_value(l.s_min) AS labelled_min, any_value(l.s_max) AS labelled_max
    FROM evaluated AS e CROSS JOIN labelled AS l
    GROUP BY e.policy
)
SELECT
    policy, read_on, n_scores, out_of_range, saturation, labelled_min, labelled_max,
    CASE WHEN out_of_range >= 0.05 THEN 'REFUSE-LEVEL' WHEN saturation >= 0.20 THEN 'CAUTION' ELSE 'OK' END AS status,
    CASE WHEN out_of_range >= 0.05
         THEN format('{:.1f}% of its judge scores lie outside the labelled range [{:.4g}, {:.4g}] (judge units): '
                     || 'no level claim; label responses in the missing range', 100 * out_of_range,
                     labelled_min, labelled_max)
         WHEN saturation >= 0.20
         THEN format('{:.1f}% of its calibrated rewards sit at the labelled bounds: boundary effects likely',
                     100 * saturation)
         ELSE 'its judge scores lie within the labelled range' END AS note
FROM shares
ORDER BY policy
