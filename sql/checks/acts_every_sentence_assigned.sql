-- Every fitted method x k assigns every sentence with an activation exactly once.
-- asset: acts.cluster_assignments
WITH counts AS (
    SELECT f.method, f.k, count(a.sentence_id) AS assigned, count(DISTINCT a.sentence_id) AS distinct_assigned
    FROM acts.cluster_fits AS f
    LEFT JOIN acts.cluster_assignments AS a USING (method, k)
    GROUP BY ALL
)
SELECT * FROM counts
WHERE assigned <> (SELECT count(*) FROM acts.activations) OR distinct_assigned <> assigned
