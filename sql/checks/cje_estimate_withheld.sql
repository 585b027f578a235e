-- CJE guard rail 'estimate_withheld' (rules and thresholds: sql/cje/guard_rails.sql).
-- severity: warn
SELECT * FROM cje.guard_rails WHERE rule = 'estimate_withheld'
