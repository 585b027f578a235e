-- CJE guard rail 'low_ess' (rules and thresholds: sql/cje/guard_rails.sql).
-- severity: warn
SELECT * FROM cje.guard_rails WHERE rule = 'low_ess'
