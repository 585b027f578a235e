-- Per layer x method x k x repetition x category: how well the grader's verdicts agree with the clusters.
-- Membership: a sentence from the cluster is a positive, one from another cluster a negative; the
-- grader's "belongs" is the prediction. Precision, recall and F1 are 0 when undefined (no
-- predicted or no true positives), as scikit-learn's zero_division=0. Completeness is the mean
-- 0-10 fit of the cluster's own sentences, scaled to 0-1. Unparsed answers are left out and counted.
-- The grader's control: its acceptance of the cluster's own sentences under the cluster's title
-- (`matched_acceptance`, the recall) against under another cluster's (`shuffled_acceptance`),
-- with a pooled two-proportion z-test; `grader_discriminates` only where matched is higher at
-- p < 0.05. A grader that says yes to anything scores a high F1 and fails this.
WITH membership AS (
    SELECT
        layer, method, k, repetition, cluster_id,
        count(*) FILTER (WHERE truth AND answer = 1) AS tp,
        count(*) FILTER (WHERE NOT truth AND answer = 1) AS fp,
        count(*) FILTER (WHERE truth AND answer = 0) AS fn,
        count(*) FILTER (WHERE NOT truth AND answer = 0) AS tn,
        count(*) FILTER (WHERE answer IS NULL) AS unparsed
    FROM acts.grades
    WHERE metric = 'membership'
    GROUP BY ALL
),

completeness AS (
    SELECT
        layer, method, k, repetition, cluster_id,
        avg(answer) / 10 AS completeness,
        count(answer) AS completeness_graded,
        count(*) FILTER (WHERE answer IS NULL) AS unparsed
    FROM acts.grades
    WHERE metric = 'completeness'
    GROUP BY ALL
),

shuffled AS (
    SELECT
        layer, method, k, repetition, cluster_id,
        count(answer) AS shuffled_graded,
        count(*) FILTER (WHERE answer = 1) AS shuffled_accepted,
        count(*) FILTER (WHERE answer IS NULL) AS unparsed
    FROM acts.grades
    WHERE metric = 'membership_shuffled'
    GROUP BY ALL
),

categories AS (
    SELECT layer, method, k, repetition, cluster_id, title, description, size
    FROM acts.cluster_titles
    WHERE title IS NOT NULL
)

SELECT
    c.layer, c.method, c.k, c.repetition, c.cluster_id, c.title, c.description, c.size,
    m.tp + m.fp + m.fn + m.tn AS membership_graded,
    (m.tp + m.tn) / nullif(m.tp + m.fp + m.fn + m.tn, 0) AS accuracy,
    CASE WHEN m.tp + m.fp > 0 THEN m.tp / (m.tp + m.fp) ELSE 0 END AS precision,
    CASE WHEN m.tp + m.fn > 0 THEN m.tp / (m.tp + m.fn) ELSE 0 END AS recall,
    CASE WHEN 2 * m.tp + m.fp + m.fn > 0 THEN 2 * m.tp / (2 * m.tp + m.fp + m.fn) ELSE 0 END AS f1,
    p.completeness,
    p.completeness_graded,
    m.tp AS matched_accepted,
    m.tp + m.fn AS matched_graded,
    m.tp / nullif(m.tp + m.fn, 0) AS matched_acceptance,
    x.shuffled_accepted,
    x.shuffled_graded,
    x.shuffled_accepted / nullif(x.shuffled_graded, 0) AS shuffled_acceptance,
    2 * norm_sf(abs(two_proportion_z(m.tp, m.tp + m.fn, x.shuffled_accepted, x.shuffled_graded)))
        AS control_p_value,
    coalesce(two_proportion_z(m.tp, m.tp + m.fn, x.shuffled_accepted, x.shuffled_graded) > 0
             AND control_p_value < 0.05, false) AS grader_discriminates,
    coalesce(m.unparsed, 0) + coalesce(p.unparsed, 0) + coalesce(x.unparsed, 0) AS unparsed
FROM categories AS c
LEFT JOIN membership AS m USING (layer, method, k, repetition, cluster_id)
LEFT JOIN completeness AS p USING (layer, method, k, repetition, cluster_id)
LEFT JOIN shuffled AS x USING (layer, method, k, repetition, cluster_id)
