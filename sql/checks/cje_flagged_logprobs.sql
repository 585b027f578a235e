-- More than 5% of a policy's logged rows flagged (a missing, NaN or positive log-probability, or
-- a base log-probability of -inf): those rows leave every estimate, and so many of them says the
-- logs are broken, not the policy unlikely. Blocking: no estimate is computed on such logs (a few
-- flagged rows only warn, as guard rail 'flagged_logprobs').
-- blocking: true
-- asset: cje.importance_weights
SELECT policy, count(*) FILTER (WHERE problem IS NOT NULL) AS n_flagged, count(*) AS n,
       count(*) FILTER (WHERE problem IS NOT NULL) / count(*) AS flagged_share
FROM cje.importance_weights
GROUP BY policy
HAVING count(*) FILTER (WHERE problem IS NOT NULL) > 0.05 * count(*)
