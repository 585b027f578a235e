-- Grader answers that did not parse: recorded, left out of the scores. A warning, since the
-- scores then rest on fewer verdicts.
-- severity: warn
SELECT method, k, repetition, metric, count(*) AS unparsed
FROM acts.grades
WHERE error IS NOT NULL
GROUP BY ALL
