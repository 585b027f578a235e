-- CJE guard rail 'weak_judge' (rules and thresholds: sql/cje/guard_rails.sql).
-- severity: warn
SELECT * FROM cje.guard_rails WHERE rule = 'weak_judge'
