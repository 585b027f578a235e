-- The leaderboard, overall: each rated model's rating, interval and rank range with no control
-- and with style control side by side, and how many places style control moved it (positive:
-- up). A model rated under one control only keeps its row with the other's columns empty.
-- layer: result
WITH overall AS (
    SELECT * FROM arena.model_ratings WHERE category = 'all' AND rated
),

plain AS (
    SELECT * FROM overall WHERE control = 'none'
),

styled AS (
    SELECT * FROM overall WHERE control = 'style'
)

SELECT
    coalesce(p.model, s.model) AS model,
    p.rating, p.ci_low, p.ci_high, p.rank, p.rank_high,
    s.rating AS style_rating, s.ci_low AS style_ci_low, s.ci_high AS style_ci_high,
    s.rank AS style_rank, s.rank_high AS style_rank_high,
    p.rank - s.rank AS places_moved,
    coalesce(p.battles, s.battles) AS battles
FROM plain AS p
FULL JOIN styled AS s USING (model)
ORDER BY p.rating DESC NULLS LAST, s.rating DESC NULLS LAST
