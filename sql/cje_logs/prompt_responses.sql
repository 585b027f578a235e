-- Each built response beside its prompt, and whether the base wrote it: what the judge and the
-- oracle read, and (the base's rows) what every policy scores by teacher forcing.
SELECT r.prompt_id, r.policy, r.draw_idx, p.prompt, r.response, r.ended, pol.is_base
FROM cje_logs.responses AS r
JOIN cje_logs.prompts AS p USING (prompt_id)
JOIN cje_logs.policies AS pol USING (policy)
