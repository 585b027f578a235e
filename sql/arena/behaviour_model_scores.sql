-- Model identity on what was measured: per behaviour and model, over the model's battles with an
-- order-consistent verdict, how often its response shows the behaviour more than its opponent's,
-- less, or equally, and the mean (+1 more, -1 less, 0 equal) with a normal 95% interval, so which
-- model shows it more reads off the sign and the interval.
WITH sides AS (
    SELECT v.behaviour, b.model_a AS model, v.verdict AS score
    FROM arena.behaviour_verdicts AS v
    JOIN arena.battles AS b USING (battle_id)
    WHERE v.verdict IS NOT NULL
    UNION ALL
    SELECT v.behaviour, b.model_b AS model, -v.verdict AS score
    FROM arena.behaviour_verdicts AS v
    JOIN arena.battles AS b USING (battle_id)
    WHERE v.verdict IS NOT NULL
),

per_model AS (
    SELECT
        behaviour,
        model,
        count(*) AS battles,
        count(*) FILTER (WHERE score = 1) AS shows_more,
        count(*) FILTER (WHERE score = -1) AS shows_less,
        count(*) FILTER (WHERE score = 0) AS shows_equal,
        avg(score) AS mean_score,
        stddev_samp(score) AS sd
    FROM sides
    GROUP BY behaviour, model
)

SELECT
    behaviour,
    model,
    battles,
    shows_more,
    shows_less,
    shows_equal,
    mean_score,
    mean_score - 1.959963984540054 * sd / sqrt(battles) AS ci_low,
    mean_score + 1.959963984540054 * sd / sqrt(battles) AS ci_high
FROM per_model
ORDER BY behaviour, model
