-- FastChat's two leaderboard matrices as one table: for each ordered pair of models, the battles
-- they fought (either side), the decided ones (ties left out, as FastChat's elo_analysis draws
-- both matrices from its battles without ties), and the share of those the row model won
-- (`compute_pairwise_win_fraction`: wins as A plus wins as B over the pair's battles). Every
-- battle of the source, no LLM.
-- layer: result
WITH both_orders AS (
    SELECT battle_id, model_a AS model, model_b AS opponent,
           outcome_of(winner, 'A') AS outcome
    FROM arena.rating_battles
    UNION ALL
    SELECT battle_id, model_b, model_a,
           outcome_of(winner, 'B')
    FROM arena.rating_battles
)

SELECT
    model,
    opponent,
    count(*) AS battles,
    count(*) FILTER (WHERE outcome <> 'tie') AS decided,
    count(*) FILTER (WHERE outcome = 'win') AS wins,
    count(*) FILTER (WHERE outcome = 'loss') AS losses,
    count(*) FILTER (WHERE outcome = 'tie') AS ties,
    count(*) FILTER (WHERE outcome = 'win') / nullif(count(*) FILTER (WHERE outcome <> 'tie'), 0) AS win_fraction
FROM both_orders
WHERE model <> opponent
GROUP BY model, opponent
ORDER BY model, opponent
