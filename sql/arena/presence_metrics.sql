-- Per family (fine clusters, coarse clusters, style features), prompt category (all, and each
-- broad category of the battles the describer read: which prompts bring out a behaviour), item and
-- model: in how many of the model's battles its response shows the item, that share against the
-- other models', the mean amount (properties, or the feature's value) against theirs, and the
-- preference link: the model's win rate in battles where it shows the item vs where it does not.
-- Ties: a tie is neither a win nor a loss; win rates are wins / (wins + losses) and ties are
-- counted beside them. Win rates carry Wilson 95% intervals; the difference is tested with a
-- pooled two-proportion z-test, and p-values are Holm-adjusted across the items of one family
-- for one model in one category.
WITH by_category AS (
    SELECT *, 'all' AS category FROM arena.behaviour_presence
    UNION ALL
    SELECT p.*, c.broad_category AS category
    FROM arena.behaviour_presence AS p
    JOIN arena.prompt_categories AS c USING (battle_id)
),

per_model AS (
    SELECT
        family, category, item, model,
        count(*) AS battles,
        count(*) FILTER (WHERE shows) AS battles_with,
        sum(amount) AS amount,
        count(*) FILTER (WHERE shows AND outcome = 'win') AS wins_with,
        count(*) FILTER (WHERE shows AND outcome = 'loss') AS losses_with,
        count(*) FILTER (WHERE shows AND outcome = 'tie') AS ties_with,
        count(*) FILTER (WHERE NOT shows AND outcome = 'win') AS wins_without,
        count(*) FILTER (WHERE NOT shows AND outcome = 'loss') AS losses_without,
        count(*) FILTER (WHERE NOT shows AND outcome = 'tie') AS ties_without
    FROM by_category
    GROUP BY ALL
),

with_rates AS (
    SELECT
        *,
        battles_with / battles AS proportion,
        (sum(battles_with) OVER item - battles_with) / nullif(sum(battles) OVER item - battles, 0)
            AS proportion_others,
        amount / battles AS mean_amount,
        (sum(amount) OVER item - amount) / nullif(sum(battles) OVER item - battles, 0) AS mean_amount_others,
        wins_with + losses_with AS decided_with,
        wins_without + losses_without AS decided_without,
        wins_with / nullif(wins_with + losses_with, 0) AS win_rate_with,
        wins_without / nullif(wins_without + losses_without, 0) AS win_rate_without
    FROM per_model
    WINDOW item AS (PARTITION BY family, category, item)
),

tested AS (
    SELECT
        *,
        proportion - proportion_others AS proportion_delta,
        two_proportion_z(wins_with, decided_with, wins_without, decided_without) AS z
    FROM with_rates
),

with_p AS (
    SELECT *, 2 * norm_sf(abs(z)) AS p_value
    FROM tested
)

SELECT
    family, category, item, model,
    battles, battles_with, amount, mean_amount, mean_amount_others,
    proportion, proportion_others, proportion_delta,
    wins_with, losses_with, ties_with, wins_without, losses_without, ties_without,
    win_rate_with,
    wilson_low(wins_with, decided_with) AS win_rate_with_ci_low,
    wilson_high(wins_with, decided_with) AS win_rate_with_ci_high,
    win_rate_without,
    wilson_low(wins_without, decided_without) AS win_rate_without_ci_low,
    wilson_high(wins_without, decided_without) AS win_rate_without_ci_high,
    z,
    p_value,
    holm(p_value, list(p_value) OVER (PARTITION BY family, category, model)) AS p_holm
FROM with_p
