-- CJE guard rail 'judge_outside_label_range' (rules and thresholds: sql/cje/guard_rails.sql).
-- severity: warn
SELECT * FROM cje.guard_rails WHERE rule = 'judge_outside_label_range'
