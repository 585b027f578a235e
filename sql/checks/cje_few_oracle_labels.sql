-- CJE guard rail 'few_oracle_labels' (rules and thresholds: sql/cje/guard_rails.sql).
-- severity: warn
SELECT * FROM cje.guard_rails WHERE rule = 'few_oracle_labels'
