-- The describer's evidence checked against the battle it came from, at no LLM cost: one row per
-- evidence quote (at least 8 characters once case and runs of white space are normalised; the
-- quoted fragments of an item written as `"a" and "b"` each count as one), and
-- whether it occurs in the response the property is attributed to (`in_own`) and in the other
-- response (`in_other`). A describer that reads the responses quotes the side it describes;
-- one that ignores them, or mixes up A and B, quotes it no more often than the other side
-- (arena.describer_control tests that).
WITH fragments AS (
    -- StringSight / LMM-Vibes write several quoted fragments in one evidence item (`"a" and "b"`,
    -- `"c... d"`): an item that opens with a double quote gives each quoted fragment, split at its
    -- ellipses (an omission), as a quote of its own; any other item is one quote
    SELECT property_id, battle_id, side,
           flatten(list_transform(from_json(evidence, '["VARCHAR"]'), lambda item:
               CASE WHEN regexp_matches(trim(item), '^["“]')
                    THEN flatten(list_transform(regexp_extract_all(item, '["“]([^"”]+)["”]', 1),
                                                lambda f: regexp_split_to_array(f, '\.\.\.|…')))
                    ELSE [item] END)) AS pieces
    FROM arena.behavior_properties
    WHERE evidence IS NOT NULL
),

quotes AS (
    SELECT property_id, battle_id, side, unnest(pieces) AS quote, generate_subscripts(pieces, 1) AS quote_idx
    FROM fragments
),

normalised AS (
    SELECT
        q.property_id,
        q.quote_idx,
        q.battle_id,
        q.side,
        regexp_replace(lower(trim(q.quote)), '\s+', ' ', 'g') AS quote,
        regexp_replace(lower(CASE q.side WHEN 'A' THEN b.response_a ELSE b.response_b END), '\s+', ' ', 'g')
            AS own_response,
        regexp_replace(lower(CASE q.side WHEN 'A' THEN b.response_b ELSE b.response_a END), '\s+', ' ', 'g')
            AS other_response
    FROM quotes AS q
    JOIN arena.battles AS b USING (battle_id)
)

SELECT
    property_id,
    quote_idx,
    battle_id,
    side,
    quote,
    contains(own_response, quote) AS in_own,
    contains(other_response, quote) AS in_other
FROM normalised
WHERE length(quote) >= 8
