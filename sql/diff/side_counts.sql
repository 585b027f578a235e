-- How many rows each side (A, B) has after balancing: the report's row counts.
SELECT side, count(*) AS n
FROM diff.rows
GROUP BY side
