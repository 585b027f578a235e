"""`cje_logs.policies` and `cje_logs.responses`: each policy (role policy.<name>) and its response
to every prompt, with the per-token and sequence log-probabilities of that response.

The call cache makes the stage resumable: a killed run repeats no finished call. Response
log-probabilities are the model's own (temperature 1), read by teacher forcing the sampled text,
which equals the log-probabilities llama.cpp reports while sampling (tests/test_llm_llamacpp.py).
"""

import dagster as dg
import pandas as pd

from assets.cje_logs.config import ResponsesConfig
from assets.cje_logs.progress import Progress
from assets.core.llm_calls import LLM_KIND
from assets.core.pools import model_pool
from assets.lineage import INPUT, Query, reads
from resources.llm import LLM, CapabilityError, RoleClient
from resources.warehouse import Warehouse

KINDS = {"duckdb", LLM_KIND}
PROMPTS = Query("SELECT * FROM cje_logs.prompts ORDER BY prompt_id")


def policy_clients(llm: LLM, context, policies: pd.DataFrame) -> dict[str, RoleClient]:
    return {p.policy: llm.client(f"policy.{p.policy}", context, model=p.model) for p in policies.itertuples()}


def check_scoring(client: RoleClient, policy: str) -> None:
    """Fail before generating when the policy's backend cannot give log-probabilities of text."""
    if not client.can_score_text:
        raise CapabilityError(
            f"policy '{policy}' runs on backend {client.backend.name}:{client.backend.model}, which cannot "
            "give the log-probabilities of given text without the model's chat template: set chat_template "
            f"under [roles.policy.{policy}] (and serve it with vLLM or llama.cpp), or use backend "
            "llamacpp or vllm")


@dg.multi_asset(
    specs=[dg.AssetSpec(["cje_logs", name], deps=reads(PROMPTS), group_name="cje_logs", kinds=KINDS, tags=INPUT)
           for name in ("policies", "responses")],
    name="cje_logs__responses",
    pool=model_pool("policy.*"),
    description="Each policy's response to every prompt, with its token and sequence log-probabilities.",
)
def responses(context: dg.AssetExecutionContext, config: ResponsesConfig, llm: LLM, warehouse: Warehouse):
    names = [config.base_policy, *config.target_policies]
    if len(set(names)) != len(names):
        raise ValueError(f"policies must differ: base {config.base_policy}, targets {config.target_policies}")
    rows = []
    for name in names:
        spec = llm.settings.role(f"policy.{name}")  # names the configured roles if it is missing
        rows.append({"policy": name, "is_base": name == config.base_policy, "backend": spec.backend,
                     "model": config.base_model or spec.model, "system_prompt": spec.system_prompt,
                     "temperature": config.temperature if config.temperature >= 0 else spec.temperature,
                     "top_p": config.top_p if config.top_p >= 0 else spec.top_p,
                     "max_tokens": spec.max_tokens})
    policies = pd.DataFrame(rows)
    clients = policy_clients(llm, context, policies)
    for name, client in clients.items():
        check_scoring(client, name)
    prompt_rows = warehouse.query(PROMPTS)
    out, progress = [], Progress(context, "responses", len(prompt_rows) * len(policies))
    for p in policies.itertuples():
        client = clients[p.policy]
        for r in prompt_rows.itertuples():
            messages = [{"role": "user", "content": r.prompt}]
            reply = client.chat(messages, temperature=p.temperature, top_p=p.top_p)
            score = client.score_sequence(messages, reply.text)
            out.append({"prompt_id": r.prompt_id, "policy": p.policy, "draw_idx": 0,
                        "response": reply.text, "token_logprobs": score.token_logprobs,
                        "sequence_logprob": score.logprob, "n_tokens": len(score.tokens),
                        "prompt_truncated": reply.truncated, "is_empty": not reply.text.strip()})
            progress.step()
    frame = pd.DataFrame(out)
    yield dg.MaterializeResult(asset_key=["cje_logs", "policies"],
                               metadata={"dagster/row_count": warehouse.write_table("cje_logs.policies", policies, context=context)})
    yield dg.MaterializeResult(asset_key=["cje_logs", "responses"], metadata={
        "dagster/row_count": warehouse.write_table("cje_logs.responses", frame, context=context),
        "empty_responses": int(frame.is_empty.sum()), "truncated_prompts": int(frame.prompt_truncated.sum())})
