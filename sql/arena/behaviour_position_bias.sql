-- How much the answer order, not the responses, decided the rubric: per behaviour, of the battles
-- answered in both orders, the share whose verdict follows the position (the same displayed slot
-- both times) with its Wilson 95% interval, and the share inconsistent in any way.
WITH counted AS (
    SELECT
        behaviour,
        count(*) AS battles,
        count(*) FILTER (WHERE status <> 'missing') AS answered,
        count(*) FILTER (WHERE status IN ('A', 'B', 'equal')) AS consistent,
        count(*) FILTER (WHERE status = 'inconsistent') AS inconsistent,
        count(*) FILTER (WHERE follows_position) AS follows_position
    FROM arena.behaviour_verdicts
    GROUP BY behaviour
)

SELECT
    behaviour,
    battles,
    answered,
    consistent,
    inconsistent,
    follows_position,
    follows_position / nullif(answered, 0) AS position_bias_rate,
    wilson_low(follows_position, answered) AS position_bias_ci_low,
    wilson_high(follows_position, answered) AS position_bias_ci_high,
    inconsistent / nullif(answered, 0) AS inconsistent_rate
FROM counted
ORDER BY behaviour
