-- Each policy's importance weights as a histogram on a log scale (quarter decades of the normalized
-- weight, mean one): the source tool's weight-distribution plot (plot_weight_diagnostics), drawn
-- from these counts in the report folder and on the app's CJE page. Zero weights (responses the
-- policy cannot sample) have no logarithm: cje.weight_diagnostics counts them.
SELECT policy, floor(log10(normalized_weight) * 4) / 4 AS log10_bin, count(*) AS n
FROM cje.importance_weights
WHERE problem IS NULL AND normalized_weight > 0
GROUP BY policy, log10_bin
ORDER BY policy, log10_bin
