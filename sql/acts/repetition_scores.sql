-- Per layer x method x k x repetition: the category scores averaged over categories, the semantic
-- orthogonality (share of category pairs the grader rates below the similarity threshold) and
-- the final score, the mean of F1, completeness and orthogonality (of those that were graded),
-- reported beside the grader's control pooled over the repetition's categories (matched vs
-- shuffled-title acceptance, two-proportion z-test; `grader_discriminates` where matched is higher
-- at p < 0.05): a final score whose grader does not discriminate measures the grader, not the names.
-- Every repetition the namer was asked for has a row, also one where no title parsed: its scores
-- are NULL, `failed_titles` and `unparsed` count what failed, and `reason` says why.
WITH repetitions AS (
    SELECT
        layer, method, k, repetition,
        count(*) AS clusters,
        count(*) FILTER (WHERE title IS NULL) AS failed_titles
    FROM acts.cluster_titles
    GROUP BY ALL
),

categories AS (
    SELECT
        layer, method, k, repetition,
        count(*) AS categories,
        avg(accuracy) AS accuracy,
        avg(precision) AS precision,
        avg(recall) AS recall,
        avg(f1) AS f1,
        avg(completeness) AS completeness,
        sum(unparsed) AS unparsed,
        bool_or(membership_graded > 0) AS has_membership,
        sum(matched_accepted) AS matched_accepted,
        sum(matched_graded) AS matched_graded,
        sum(shuffled_accepted) AS shuffled_accepted,
        sum(shuffled_graded) AS shuffled_graded
    FROM acts.category_scores
    GROUP BY ALL
),

pairs AS (
    SELECT
        layer, method, k, repetition,
        avg(CASE WHEN answer < threshold THEN 1.0 ELSE 0.0 END) FILTER (WHERE answer IS NOT NULL) AS orthogonality,
        count(answer) AS pairs_graded,
        count(*) FILTER (WHERE answer IS NULL) AS unparsed
    FROM acts.grades
    WHERE metric = 'similarity'
    GROUP BY ALL
),

scored AS (
    SELECT
        r.layer, r.method, r.k, r.repetition,
        coalesce(c.categories, 0) AS categories,
        r.failed_titles,
        CASE WHEN c.has_membership THEN c.accuracy END AS accuracy,
        CASE WHEN c.has_membership THEN c.precision END AS precision,
        CASE WHEN c.has_membership THEN c.recall END AS recall,
        CASE WHEN c.has_membership THEN c.f1 END AS f1,
        c.completeness,
        p.orthogonality,
        coalesce(p.pairs_graded, 0) AS pairs_graded,
        coalesce(c.unparsed, 0) + coalesce(p.unparsed, 0) AS unparsed,
        c.matched_accepted, c.matched_graded, c.shuffled_accepted, c.shuffled_graded,
        c.matched_accepted / nullif(c.matched_graded, 0) AS matched_acceptance,
        c.shuffled_accepted / nullif(c.shuffled_graded, 0) AS shuffled_acceptance,
        two_proportion_z(c.matched_accepted, c.matched_graded, c.shuffled_accepted, c.shuffled_graded)
            AS control_z,
        CASE
            WHEN c.categories IS NULL THEN 'no title parsed (' || r.failed_titles || ' of ' || r.clusters || ' failed)'
            WHEN r.failed_titles > 0 THEN r.failed_titles || ' of ' || r.clusters || ' titles did not parse'
        END AS reason
    FROM repetitions AS r
    LEFT JOIN categories AS c USING (layer, method, k, repetition)
    LEFT JOIN pairs AS p USING (layer, method, k, repetition)
)

SELECT
    * EXCLUDE (control_z),
    2 * norm_sf(abs(control_z)) AS control_p_value,
    coalesce(control_z > 0 AND 2 * norm_sf(abs(control_z)) < 0.05, false) AS grader_discriminates,
    (coalesce(f1, 0) + coalesce(completeness, 0) + coalesce(orthogonality, 0))
        / nullif((f1 IS NOT NULL)::INT + (completeness IS NOT NULL)::INT + (orthogonality IS NOT NULL)::INT, 0)
        AS final_score
FROM scored
