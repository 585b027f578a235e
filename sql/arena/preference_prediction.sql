-- Do the behaviours predict the outcome? Per task and feature set (arena.prediction_outcomes):
-- held-out accuracy with its Wilson 95% interval and mean log-loss with a t interval, and the
-- paired comparison with the task's previous feature set (winner: models -> +style ->
-- +behaviours; identity: majority -> style -> +behaviours; the rubric's +measured beside
-- +behaviours, against the same previous set) on the same held-out items: the
-- accuracy gained and an exact McNemar test of the items one set gets right and the other not.
-- `adds_over_previous` only where the gain is positive at p < 0.05: behaviours that add nothing
-- over style say so here.
-- layer: result
WITH ordered AS (
    SELECT
        *,
        CASE features
            WHEN 'models' THEN 1 WHEN 'models+style' THEN 2 WHEN 'models+style+behaviours' THEN 3
            WHEN 'models+style+measured' THEN 3
            WHEN 'majority' THEN 1 WHEN 'style' THEN 2 WHEN 'style+behaviours' THEN 3
            WHEN 'style+measured' THEN 3 END AS step
    FROM arena.prediction_outcomes
),

scored AS (
    SELECT
        task, features, step,
        count(*) AS n,
        count(*) FILTER (WHERE correct) AS n_correct,
        avg(log_loss) AS log_loss,
        stddev_samp(log_loss) / sqrt(count(*)) AS log_loss_se
    FROM ordered
    GROUP BY ALL
),

paired AS (
    SELECT
        cur.task, cur.features,
        count(*) FILTER (WHERE cur.correct AND NOT prev.correct) AS only_this,
        count(*) FILTER (WHERE prev.correct AND NOT cur.correct) AS only_previous
    FROM ordered AS cur
    JOIN ordered AS prev ON prev.task = cur.task AND prev.step = cur.step - 1 AND prev.item_id = cur.item_id
    GROUP BY ALL
)

SELECT
    s.task, s.features, s.n, s.n_correct,
    s.n_correct / s.n AS accuracy,
    wilson_low(s.n_correct, s.n) AS accuracy_ci_low,
    wilson_high(s.n_correct, s.n) AS accuracy_ci_high,
    s.log_loss,
    s.log_loss - t_ppf(0.975, s.n - 1) * s.log_loss_se AS log_loss_ci_low,
    s.log_loss + t_ppf(0.975, s.n - 1) * s.log_loss_se AS log_loss_ci_high,
    (p.only_this - p.only_previous) / s.n AS accuracy_gain,
    p.only_this, p.only_previous,
    CASE WHEN p.only_this + p.only_previous > 0 THEN least(1.0, 2 * binom_sf(
        greatest(p.only_this, p.only_previous) - 1, p.only_this + p.only_previous, 0.5)) END AS mcnemar_p_value,
    coalesce(p.only_this > p.only_previous AND 2 * binom_sf(greatest(p.only_this, p.only_previous) - 1,
             p.only_this + p.only_previous, 0.5) < 0.05, false) AS adds_over_previous
FROM scored AS s
LEFT JOIN paired AS p USING (task, features)
ORDER BY s.task, s.step, s.features
