-- CJE guard rail 'outside_sampling_support' (rules and thresholds: sql/cje/guard_rails.sql).
-- severity: warn
SELECT * FROM cje.guard_rails WHERE rule = 'outside_sampling_support'
