"""`cje_logs.policies` and `cje_logs.responses`: each policy (role policy.<name>) and its response
to every prompt, with the per-token and sequence log-probabilities of that response.

The call cache makes the stage resumable: a killed run repeats no finished call. Log-probabilities
are those of the distribution each policy samples from (its temperature, top_p, top_k and min_p
applied, -inf for a token it cannot sample; resources/llm/sampling.py), read by teacher forcing the
sampled text, with the end token's where the model ended the response itself.
"""

import dagster as dg
import pandas as pd

from assets.cje_logs.config import ResponsesConfig
from assets.progress import Progress
from assets.core.llm_calls import LLM_KIND
from assets.core.pools import model_pool
from assets.core.tables import Written, table_step
from assets.lineage import INPUT, Query, reads
from resources.llm import LLM, CapabilityError, LLMConfigError, RoleClient
from resources.settings import Settings
from resources.warehouse import Warehouse

KINDS = {"duckdb", LLM_KIND}
PROMPTS = Query("SELECT * FROM cje_logs.prompts ORDER BY prompt_id")


def policy_clients(llm: LLM, context, policies: pd.DataFrame) -> dict[str, RoleClient]:
    clients = {}
    for p in policies.itertuples():
        try:
            clients[p.policy] = llm.client(p.role, context, model=p.model)
        except LLMConfigError as exc:
            if p.role == f"policy.{p.policy}":
                raise
            roles = ", ".join(sorted(r for r in llm.settings.roles if r.startswith("policy.")))
            raise LLMConfigError(f"target policy '{p.policy}': no role 'policy.{p.policy}' (configured: {roles}), "
                                 f"and as a model on the base's backend: {exc}") from None
    return clients


def policy_table(settings: Settings, config: ResponsesConfig) -> pd.DataFrame:
    """The base and each target, as the source tool takes them: a target is a role policy.<name>,
    or else a model name, run on the base's backend with the base's system prompt and sampling.
    --base-model, --temperature and --top-p change the base (and the model-name targets) only."""
    names = [config.base_policy, *config.target_policies]
    if len(set(names)) != len(names):
        raise ValueError(f"policies must differ: base {config.base_policy}, targets {config.target_policies}")
    unknown = sorted(set(config.identical_policies) - set(config.target_policies))
    if unknown:
        raise ValueError(f"cje_logs__responses.identical_policies names {unknown}, which are not targets "
                         f"(target_policies: {config.target_policies})")
    base_role = f"policy.{config.base_policy}"
    base = settings.role(base_role)  # names the configured roles if it is missing
    rows = []
    for name in names:
        own_role = f"policy.{name}" in settings.roles
        role = f"policy.{name}" if own_role else base_role
        spec = settings.roles[role]
        follows_base = name == config.base_policy or not own_role
        rows.append({"policy": name, "is_base": name == config.base_policy, "role": role,
                     "backend": spec.backend,
                     "model": (config.base_model or base.model) if name == config.base_policy
                     else spec.model if own_role else name,
                     "system_prompt": spec.system_prompt,
                     "temperature": config.temperature if follows_base and config.temperature >= 0 else spec.temperature,
                     "top_p": config.top_p if follows_base and config.top_p >= 0 else spec.top_p,
                     "top_k": spec.top_k, "min_p": spec.min_p, "logprobs": spec.logprobs,
                     "max_tokens": spec.max_tokens, "declared_identical": name in config.identical_policies})
    return pd.DataFrame(rows)


SAMPLING = ("temperature", "top_p", "top_k", "min_p")


def sampling_of(policy) -> dict:
    """A cje_logs.policies row's sampling parameters, as the LLM resource takes them."""
    return {k: getattr(policy, k) for k in SAMPLING}


def check_scoring(client: RoleClient, policy) -> None:
    """Fail before generating when the policy's backend cannot give the log-probabilities of text
    under the distribution the policy samples from."""
    problem = client.sampling_logprobs_problem(**sampling_of(policy))
    if problem:
        raise CapabilityError(problem)
    if not client.can_score_text:
        raise CapabilityError(
            f"policy '{policy.policy}' runs on backend {client.backend.name}:{client.backend.model}, which cannot "
            "give the log-probabilities of given text without the model's chat template: set chat_template "
            f"under [roles.policy.{policy.policy}] (and serve it with vLLM or llama.cpp), or use backend "
            "llamacpp or vllm")


@table_step(deps=reads(PROMPTS), layer=INPUT, kinds=KINDS, pool=model_pool("policy.*"))
def responses(context: dg.AssetExecutionContext, config: ResponsesConfig, llm: LLM, warehouse: Warehouse) -> Written:
    """Each policy's response to every prompt, with its token and sequence log-probabilities."""
    policies = policy_table(llm.settings, config)
    clients = policy_clients(llm, context, policies)
    for p in policies.itertuples():
        check_scoring(clients[p.policy], p)
    prompt_rows = warehouse.query(PROMPTS)
    out, progress = [], Progress(context, "responses", len(prompt_rows) * len(policies))
    for p in policies.itertuples():
        client = clients[p.policy]
        for r in prompt_rows.itertuples():
            messages = [{"role": "user", "content": r.prompt}]
            reply = client.chat(messages, **sampling_of(p))
            ended = reply.finish_reason == "stop"  # not cut at max_tokens: the end token was sampled
            score = client.score_sequence(messages, reply.text, ended, **sampling_of(p))
            out.append({"prompt_id": r.prompt_id, "policy": p.policy, "draw_idx": 0,
                        "response": reply.text, "ended": ended, "token_logprobs": score.token_logprobs,
                        "sequence_logprob": score.logprob, "n_tokens": len(score.tokens),
                        "prompt_truncated": reply.truncated, "is_empty": not reply.text.strip()})
            progress.step()
    frame = pd.DataFrame(out)
    return Written({"policies": policies, "responses": frame}, {"responses": {
        "empty_responses": int(frame.is_empty.sum()), "truncated_prompts": int(frame.prompt_truncated.sum())}})
