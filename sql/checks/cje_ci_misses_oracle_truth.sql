-- CJE guard rail 'ci_misses_oracle_truth' (rules and thresholds: sql/cje/guard_rails.sql).
-- severity: warn
SELECT * FROM cje.guard_rails WHERE rule = 'ci_misses_oracle_truth'
