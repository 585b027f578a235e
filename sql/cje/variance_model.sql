-- A pilot's variance, split as the CJE paper's planning model has it (cje-eval 0.9's
-- FittedVarianceModel, Appendix F): Var(n, m) = sigma2_eval / n + sigma2_cal / m, with n the rows
-- an estimate averages over and m the oracle labels calibration used. Here read off the pilot's
-- own SE decomposition, not fitted: the influence-function part of each estimate's variance is
-- sigma2_eval / n, the oracle jackknife's part sigma2_cal / m; for an augmented direct estimate the
-- part its residual correction adds (se_labelled) is a mean over labels, so it goes with m.
-- `vibescope cje plan` sizes a study on it.
WITH labels AS (
    SELECT n_labels AS m FROM cje.calibration_summary
)
SELECT
    e.policy, e.estimator, e.n, l.m,
    e.n * (e.se_if * e.se_if - e.se_labelled * e.se_labelled) AS sigma2_eval,
    l.m * (e.se_oracle * e.se_oracle + e.se_labelled * e.se_labelled) AS sigma2_cal,
    e.se AS pilot_se
FROM cje.policy_estimates AS e CROSS JOIN labels AS l
WHERE e.reason IS NULL AND isfinite(e.se_if) AND isfinite(e.se_oracle) AND e.n > 0
ORDER BY e.estimator, e.policy
