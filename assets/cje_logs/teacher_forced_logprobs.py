"""`cje_logs.teacher_forced_logprobs`: every base response scored under every policy: teacher
forcing under the model's own chat template, with the log-probabilities of the distribution that
policy samples from (its temperature and truncations). A token the policy cannot sample makes the
log-probability -inf, so the weight of that row is 0 (`outside_support`); for the base itself that
would be an infinite weight, and is flagged."""

import math

import dagster as dg
import pandas as pd

from assets.progress import Progress
from assets.cje_logs.responses import KINDS, policy_clients, sampling_of
from assets.core.partitions import llm_stage_partitions, rows_of_partition
from assets.core.pools import model_pool
from assets.core.tables import Written, one, table_step
from assets.lineage import MODEL, Query, reads
from resources.llm import LLM
from resources.warehouse import Warehouse

POLICIES = Query("SELECT * FROM cje_logs.policies")
BASE_RESPONSES = Query("SELECT prompt_id, prompt, response, ended FROM cje_logs.prompt_responses WHERE is_base "
                       "ORDER BY prompt_id")


@table_step(deps=reads(POLICIES, BASE_RESPONSES), layer=MODEL, kinds=KINDS, pool=model_pool("policy.*"),
            partitions_def=llm_stage_partitions())
def teacher_forced_logprobs(context: dg.AssetExecutionContext, llm: LLM,
                            warehouse: Warehouse) -> Written:
    """Every base response scored under every policy. Flags: a long response with log-prob 0.0
    (the source pipeline's sign of a teacher-forcing bug), a positive or NaN log-prob, the base's
    own response outside the base's support (re-tokenised text the base could not have sampled)."""
    policies = warehouse.query(POLICIES)
    clients = policy_clients(llm, context, policies)
    logged = rows_of_partition(context, warehouse.query(BASE_RESPONSES), ["prompt_id"])
    out, progress = [], Progress(context, "teacher forcing", len(logged) * len(policies))
    for p in policies.itertuples():
        client = clients[p.policy]
        for r in logged.itertuples():
            s = client.score_sequence([{"role": "user", "content": r.prompt}], r.response, r.ended, **sampling_of(p))
            lp = s.logprob
            outside = lp == -math.inf
            flag = ("NaN log-probability" if math.isnan(lp)
                    else "the base's own response is outside its sampling support" if outside and p.is_base
                    else "positive log-probability" if lp > 0
                    else "log-probability 0.0 for a long response" if lp == 0.0 and len(s.tokens) > 5
                    else None)
            out.append({"prompt_id": r.prompt_id, "policy": p.policy, "logprob": lp, "outside_support": outside,
                        "token_logprobs": s.token_logprobs, "n_tokens": len(s.tokens),
                        "boundary_ok": s.boundary_ok, "truncated": s.truncated, "flag": flag})
            progress.step()
    frame = pd.DataFrame(out)
    return one(frame, {"flagged": int(frame.flag.notna().sum()),
                       "outside_support": int(frame.outside_support.sum())})
