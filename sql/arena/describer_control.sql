-- Does the describer read the responses? Over every evidence quote of arena.describer_grounding:
-- how many occur in the attributed response, in the other one, in both and in neither, and an
-- exact McNemar test on the discordant quotes (own only vs other only). `describer_grounded`
-- only where own-only quotes outnumber other-only ones at p < 0.05. No quotes (the planted
-- source has none): NULLs.
WITH counts AS (
    SELECT
        count(*) AS quotes,
        count(*) FILTER (WHERE in_own) AS in_own,
        count(*) FILTER (WHERE in_other) AS in_other,
        count(*) FILTER (WHERE in_own AND NOT in_other) AS own_only,
        count(*) FILTER (WHERE in_other AND NOT in_own) AS other_only,
        count(*) FILTER (WHERE NOT in_own AND NOT in_other) AS in_neither
    FROM arena.describer_grounding
),

tested AS (
    SELECT
        *,
        in_own / nullif(quotes, 0) AS own_rate,
        in_other / nullif(quotes, 0) AS other_rate,
        -- exact McNemar: two-sided binomial test of own_only among the discordant quotes
        CASE WHEN own_only + other_only > 0 THEN
            least(1.0, 2 * (1 - binom_sf(least(own_only, other_only), own_only + other_only, 0.5)))
        END AS mcnemar_p_value
    FROM counts
)

SELECT
    *,
    coalesce(own_only > other_only AND mcnemar_p_value < 0.05, false) AS describer_grounded
FROM tested
