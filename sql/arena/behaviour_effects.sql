-- What each scored behaviour does to winning, measured beside mentioned: per behaviour of the
-- rubric, the log-odds of winning when a response shows it more than its opponent's (the models
-- held fixed; arena.behaviour_fits) on the rubric's verdicts and on the describer's mentions,
-- each Holm-adjusted across the behaviours of its basis; the position bias of its verdicts; and
-- Cohen's kappa of mention against verdict (-1, 0, +1 per battle, the battles with a consistent
-- verdict): near 1 the mentions tell what the rubric measures, near 0 they do not.
WITH adjusted AS (
    SELECT *, holm(p_value, list(p_value) OVER (PARTITION BY basis)) AS p_holm
    FROM arena.behaviour_fits
),

paired AS (
    SELECT
        v.behaviour,
        v.verdict,
        coalesce(sign(m.difference), 0) AS mention
    FROM arena.behaviour_verdicts AS v
    JOIN arena.rubric_behaviours AS r USING (behaviour)
    LEFT JOIN arena.rating_behaviours AS m
        ON m.battle_id = v.battle_id AND m.cluster = r.cluster_id::VARCHAR
    WHERE r.source = 'clusters' AND v.verdict IS NOT NULL
),

marginals AS (
    SELECT
        p.behaviour,
        avg((p.mention = c.value)::DOUBLE) AS mention_share,
        avg((p.verdict = c.value)::DOUBLE) AS verdict_share
    FROM paired AS p
    CROSS JOIN (VALUES (-1), (0), (1)) AS c (value)
    GROUP BY p.behaviour, c.value
),

agreement AS (
    SELECT
        a.behaviour,
        a.observed,
        e.expected
    FROM (SELECT behaviour, avg((mention = verdict)::DOUBLE) AS observed FROM paired GROUP BY behaviour) AS a
    JOIN (SELECT behaviour, sum(mention_share * verdict_share) AS expected FROM marginals GROUP BY behaviour) AS e
        USING (behaviour)
),

measured AS (SELECT * FROM adjusted WHERE basis = 'measured'),

mentioned AS (SELECT * FROM adjusted WHERE basis = 'mentioned')

SELECT
    r.behaviour,
    r.label,
    r.source,
    r.desirable,
    ms.battles,
    ms.differing,
    ms.coefficient,
    ms.ci_low,
    ms.ci_high,
    ms.p_value,
    ms.p_holm,
    ms.error,
    mn.differing AS mentioned_differing,
    mn.coefficient AS mentioned_coefficient,
    mn.ci_low AS mentioned_ci_low,
    mn.ci_high AS mentioned_ci_high,
    mn.p_holm AS mentioned_p_holm,
    (g.observed - g.expected) / nullif(1 - g.expected, 0) AS kappa,
    pb.position_bias_rate,
    pb.inconsistent
FROM arena.rubric_behaviours AS r
LEFT JOIN measured AS ms USING (behaviour)
LEFT JOIN mentioned AS mn USING (behaviour)
LEFT JOIN agreement AS g USING (behaviour)
LEFT JOIN arena.behaviour_position_bias AS pb USING (behaviour)
ORDER BY ms.p_value NULLS LAST, r.position
