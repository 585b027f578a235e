-- Per layer x method x k and metric: the graded metrics over repetitions (mean, sample standard
-- deviation, standard error and a t-based 95% interval), beside the label-free metrics of the
-- fit (no LLM cost; one value each, so no spread). `unparsed` counts grader answers left out.
-- Every graded metric comes with the grader's control pooled over the repetitions (matched vs
-- shuffled-title acceptance of the clusters' own sentences; see acts.category_scores):
-- `grader_discriminates` false means the grader accepts any title alike, and the graded numbers
-- say nothing about the names.
WITH graded AS (
    UNPIVOT acts.repetition_scores
    ON accuracy, precision, recall, f1, completeness, orthogonality, final_score
    INTO NAME metric VALUE value
),

graded_summary AS (
    SELECT
        layer, method, k, metric, 'graded' AS kind,
        count(value) AS n,
        avg(value) AS mean,
        stddev_samp(value) AS sd
    FROM graded
    GROUP BY ALL
),

unparsed AS (
    SELECT layer, method, k, sum(unparsed) AS unparsed FROM acts.repetition_scores GROUP BY ALL
),

control AS (
    SELECT
        layer, method, k,
        sum(matched_accepted) / nullif(sum(matched_graded), 0) AS matched_acceptance,
        sum(shuffled_accepted) / nullif(sum(shuffled_graded), 0) AS shuffled_acceptance,
        two_proportion_z(sum(matched_accepted), sum(matched_graded), sum(shuffled_accepted), sum(shuffled_graded))
            AS z
    FROM acts.repetition_scores
    GROUP BY ALL
),

label_free AS (
    UNPIVOT (
        SELECT layer, method, k,
            silhouette::DOUBLE AS silhouette, davies_bouldin::DOUBLE AS davies_bouldin,
            size_entropy::DOUBLE AS size_entropy, stability_ari::DOUBLE AS stability_ari,
            centroid_orthogonality::DOUBLE AS centroid_orthogonality, clusters_used::DOUBLE AS clusters_used,
            sae_validation_fvu::DOUBLE AS sae_validation_fvu, sae_dead_latents::DOUBLE AS sae_dead_latents
        FROM acts.cluster_fits
    )
    ON COLUMNS(* EXCLUDE (layer, method, k))
    INTO NAME metric VALUE mean
)

SELECT
    g.layer, g.method, g.k, g.metric, g.kind, g.n, g.mean, g.sd,
    g.sd / sqrt(g.n) AS sem,
    g.mean - t_ppf(0.975, g.n - 1) * g.sd / sqrt(g.n) AS ci_low,
    g.mean + t_ppf(0.975, g.n - 1) * g.sd / sqrt(g.n) AS ci_high,
    u.unparsed,
    c.matched_acceptance,
    c.shuffled_acceptance,
    2 * norm_sf(abs(c.z)) AS control_p_value,
    coalesce(c.z > 0 AND 2 * norm_sf(abs(c.z)) < 0.05, false) AS grader_discriminates
FROM graded_summary AS g
LEFT JOIN unparsed AS u USING (layer, method, k)
LEFT JOIN control AS c USING (layer, method, k)

UNION ALL BY NAME

SELECT
    layer, method, k, metric, 'label_free' AS kind, 1 AS n, mean,
    NULL::DOUBLE AS sd, NULL::DOUBLE AS sem, NULL::DOUBLE AS ci_low, NULL::DOUBLE AS ci_high,
    NULL::HUGEINT AS unparsed, NULL::DOUBLE AS matched_acceptance, NULL::DOUBLE AS shuffled_acceptance,
    NULL::DOUBLE AS control_p_value, NULL::BOOLEAN AS grader_discriminates
FROM label_free
