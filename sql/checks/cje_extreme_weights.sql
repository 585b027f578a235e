-- CJE guard rail 'extreme_weights' (rules and thresholds: sql/cje/guard_rails.sql).
-- severity: warn
SELECT * FROM cje.guard_rails WHERE rule = 'extreme_weights'
