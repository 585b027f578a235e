-- Each built response with its policy's model and sampling settings: the rows the export writes
-- as cje-eval's fresh-draw files and the phase-1 responses.
SELECT r.prompt_id, r.policy, p.model, r.draw_idx, r.response, r.ended, r.sequence_logprob,
       r.token_logprobs, p.temperature, p.top_p, p.top_k, p.min_p
FROM cje_logs.responses AS r
JOIN cje_logs.policies AS p USING (policy)
