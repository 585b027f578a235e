-- CJE guard rail 'identical_policy_not_identical' (rules and thresholds: sql/cje/guard_rails.sql).
-- severity: warn
SELECT * FROM cje.guard_rails WHERE rule = 'identical_policy_not_identical'
