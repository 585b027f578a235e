-- Per method x k x repetition: the category scores averaged over categories, the semantic
-- orthogonality (share of category pairs the grader rates below the similarity threshold) and
-- the final score, the mean of F1, completeness and orthogonality (of those that were graded).
WITH categories AS (
    SELECT
        method, k, repetition,
        count(*) AS categories,
        avg(accuracy) AS accuracy,
        avg(precision) AS precision,
        avg(recall) AS recall,
        avg(f1) AS f1,
        avg(completeness) AS completeness,
        sum(unparsed) AS unparsed,
        bool_or(membership_graded > 0) AS has_membership
    FROM acts.category_scores
    GROUP BY ALL
),

pairs AS (
    SELECT
        method, k, repetition,
        avg(CASE WHEN answer < threshold THEN 1.0 ELSE 0.0 END) FILTER (WHERE answer IS NOT NULL) AS orthogonality,
        count(answer) AS pairs_graded,
        count(*) FILTER (WHERE answer IS NULL) AS unparsed
    FROM acts.grades
    WHERE metric = 'similarity'
    GROUP BY ALL
),

scored AS (
    SELECT
        c.method, c.k, c.repetition, c.categories,
        CASE WHEN c.has_membership THEN c.accuracy END AS accuracy,
        CASE WHEN c.has_membership THEN c.precision END AS precision,
        CASE WHEN c.has_membership THEN c.recall END AS recall,
        CASE WHEN c.has_membership THEN c.f1 END AS f1,
        c.completeness,
        p.orthogonality,
        coalesce(p.pairs_graded, 0) AS pairs_graded,
        c.unparsed + coalesce(p.unparsed, 0) AS unparsed
    FROM categories AS c
    LEFT JOIN pairs AS p USING (method, k, repetition)
)

SELECT
    *,
    (coalesce(f1, 0) + coalesce(completeness, 0) + coalesce(orthogonality, 0))
        / nullif((f1 IS NOT NULL)::INT + (completeness IS NOT NULL)::INT + (orthogonality IS NOT NULL)::INT, 0)
        AS final_score
FROM scored
