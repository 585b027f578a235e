-- One row per battle of arena.source_battles (every battle of the source, no LLM), in the shape
-- the Bradley-Terry fits read: both models, the winner, the broad prompt category where the
-- battle was categorised, and Chatbot Arena's style covariates: for tokens, headers, list items
-- and bold spans, the normalised difference (A - B) / (A + B + 1) (FastChat's `preprocess_for_style`,
-- whose + 1 keeps it defined where both are 0), then standardised over the battles (mean 0,
-- standard deviation 1), so that each coefficient is the preference one standard deviation of
-- that difference is worth.
WITH features AS (
    SELECT
        battle_id,
        sum(value) FILTER (WHERE side = 'a' AND feature = 'tokens') AS tokens_a,
        sum(value) FILTER (WHERE side = 'b' AND feature = 'tokens') AS tokens_b,
        sum(value) FILTER (WHERE side = 'a' AND feature = 'headers') AS headers_a,
        sum(value) FILTER (WHERE side = 'b' AND feature = 'headers') AS headers_b,
        sum(value) FILTER (WHERE side = 'a' AND feature = 'list_items') AS list_items_a,
        sum(value) FILTER (WHERE side = 'b' AND feature = 'list_items') AS list_items_b,
        sum(value) FILTER (WHERE side = 'a' AND feature = 'bold') AS bold_a,
        sum(value) FILTER (WHERE side = 'b' AND feature = 'bold') AS bold_b
    FROM arena.response_style
    GROUP BY battle_id
),

battles AS (
    SELECT s.battle_id, s.model_a, s.model_b, s.winner, f.* EXCLUDE (battle_id)
    FROM arena.source_battles AS s
    JOIN features AS f USING (battle_id)
),

normalised AS (
    SELECT
        *,
        (tokens_a - tokens_b) / (tokens_a + tokens_b + 1) AS d_tokens,
        (headers_a - headers_b) / (headers_a + headers_b + 1) AS d_headers,
        (list_items_a - list_items_b) / (list_items_a + list_items_b + 1) AS d_list_items,
        (bold_a - bold_b) / (bold_a + bold_b + 1) AS d_bold
    FROM battles
)

SELECT
    n.battle_id, n.model_a, n.model_b, n.winner,
    c.broad_category,
    coalesce((d_tokens - avg(d_tokens) OVER ()) / nullif(stddev_pop(d_tokens) OVER (), 0), 0) AS length,
    coalesce((d_headers - avg(d_headers) OVER ()) / nullif(stddev_pop(d_headers) OVER (), 0), 0) AS headers,
    coalesce((d_list_items - avg(d_list_items) OVER ()) / nullif(stddev_pop(d_list_items) OVER (), 0), 0) AS lists,
    coalesce((d_bold - avg(d_bold) OVER ()) / nullif(stddev_pop(d_bold) OVER (), 0), 0) AS bold
FROM normalised AS n
LEFT JOIN arena.prompt_categories AS c USING (battle_id)
ORDER BY n.battle_id
