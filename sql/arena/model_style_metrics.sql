-- Per model and style feature (analysis/style.py: length, headers, lists, bold, code, refusals,
-- questions back to the user), over arena.response_style's battles, no LLM involved: the mean
-- value and the share of the model's responses that show the feature, each against the other
-- models', and the preference link: the model's win rate when its response shows the feature vs
-- when it does not (Wilson 95% intervals, pooled two-proportion z-test, Holm across the features
-- for one model; computed in arena.presence_metrics).
SELECT
    item AS feature, model, battles,
    mean_amount AS mean_value, mean_amount_others AS mean_value_others,
    mean_amount - mean_amount_others AS mean_value_delta,
    battles_with AS battles_showing, proportion AS rate, proportion_others AS rate_others,
    proportion_delta AS rate_delta,
    wins_with, losses_with, ties_with, wins_without, losses_without, ties_without,
    win_rate_with, win_rate_with_ci_low, win_rate_with_ci_high,
    win_rate_without, win_rate_without_ci_low, win_rate_without_ci_high,
    win_rate_with - win_rate_without AS win_rate_delta,
    z, p_value, p_holm
FROM arena.presence_metrics
WHERE family = 'style' AND category = 'all'
ORDER BY feature, model
