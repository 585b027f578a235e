-- What the oracle says each policy is worth: the base's mean over every logged oracle label, a
-- target's over its probe slice (no row for a target without probes). The estimates are scored
-- against it (absolute_error, covered).
SELECT policy, avg(oracle_label) AS oracle_truth, count(*) AS n_truth
FROM cje.oracle_labels
WHERE (policy = 'base' AND source = 'logged') OR source = 'probe'
GROUP BY policy
