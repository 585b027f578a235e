-- The rubric's verdict per battle and behaviour: what the scorer said in the data's order and with
-- the responses swapped, both on the data's sides. Where the two orders agree that is the verdict
-- (+1: A's response shows it more, -1: B's, 0: equally); where they disagree it is `inconsistent`
-- (left out of every fit and counted); a call that failed in either order leaves it `missing`. A
-- verdict `follows_position` when the scorer named the same displayed slot (first or second) both
-- times, i.e. the position and not the response decided it (VibeCheck drops these the same way).
WITH both_orders AS (
    SELECT
        battle_id,
        behaviour,
        any_value(shows) FILTER (WHERE answer_order = 'original') AS original,
        any_value(shows) FILTER (WHERE answer_order = 'swapped') AS swapped
    FROM arena.behaviour_scores
    GROUP BY battle_id, behaviour
),

judged AS (
    SELECT
        *,
        CASE
            WHEN original IS NULL OR swapped IS NULL THEN 'missing'
            WHEN original = swapped THEN original
            ELSE 'inconsistent'
        END AS status
    FROM both_orders
)

SELECT
    battle_id,
    behaviour,
    original,
    swapped,
    status,
    CASE status WHEN 'A' THEN 1 WHEN 'B' THEN -1 WHEN 'equal' THEN 0 END AS verdict,
    coalesce(status = 'inconsistent' AND original <> 'equal' AND swapped <> 'equal', FALSE) AS follows_position
FROM judged
ORDER BY battle_id, behaviour
