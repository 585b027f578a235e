"""Build CJE logs as the source pipeline's phase 1 does, in stages that each land in a table:

cje_logs.prompts                  English first turns sampled from Arena battles (seeded)
cje_logs.policies, .responses     each policy's response to every prompt (roles policy.<name>),
                                  with its per-token and sequence log-probabilities
cje_logs.teacher_forced_logprobs  every base response scored under every policy (teacher forcing
                                  under the model's own chat template, one process, same settings)
cje_logs.judge_scores             role judge on every response: `deterministic` (0-10 rubric, JSON,
                                  greedy, / 10) and `uncertainty` (expected digit 0-9 and its
                                  variance from the digits' probabilities, / 9)
cje_logs.oracle_labels            role oracle on a seeded `oracle_fraction` of the base's rows
                                  (split calibration) and of each target's (split validation)

The call cache makes every stage resumable: a killed run repeats no finished call. Response
log-probabilities are the model's own (temperature 1), read by teacher forcing the sampled text,
which equals the log-probabilities llama.cpp reports while sampling (tests/test_llm_llamacpp.py).
"""

import math

import dagster as dg
import numpy as np
import pandas as pd

from assets.cje.build import prompts as judge_prompts
from assets.cje.build.config import JudgeConfig, OracleConfig, PoliciesConfig, PromptsConfig
from assets.core.llm_calls import LLM_KIND
from assets.core.pools import model_pool
from resources.datasets import Datasets, DatasetError, first_turn, looks_english
from resources.llm import LLM, RoleClient
from resources.warehouse import Warehouse

KINDS = {"duckdb", LLM_KIND}


def _progress(context, stage: str, done: int, total: int, started: float) -> None:
    import time

    if done % 5 == 0 or done == total:
        elapsed = time.monotonic() - started
        left = elapsed / done * (total - done) if done else float("nan")
        context.log.info(f"{stage}: {done}/{total}, about {left:.0f} s left")


@dg.asset(key=["cje_logs", "prompts"], group_name="cje_logs", kinds={"duckdb", "python"})
def prompts(context: dg.AssetExecutionContext, config: PromptsConfig, datasets: Datasets,
            warehouse: Warehouse) -> dg.MaterializeResult:
    """English first turns of Arena battles, `max_samples` of them, seeded."""
    frame = datasets.load(config.source, columns=[config.prompt_column])
    text = frame[config.prompt_column].map(first_turn).str.strip()
    keep = text.ne("") & (text.map(looks_english) if config.filter_english else True)
    ids = frame["id"].astype(str) if "id" in frame else pd.Series(np.arange(len(frame))).astype(str)
    pool = pd.DataFrame({"prompt_id": "arena_" + ids, "prompt": text})[keep].drop_duplicates("prompt")
    if pool.empty:
        raise DatasetError(f"{config.source}: no usable prompts (filter_english={config.filter_english})")
    chosen = pool.sample(n=min(config.max_samples, len(pool)), random_state=config.seed)
    n = warehouse.write_table("cje_logs.prompts", chosen.reset_index(drop=True))
    return dg.MaterializeResult(metadata={"dagster/row_count": n, "available": len(pool)})


def policy_clients(llm: LLM, context, policies: pd.DataFrame) -> dict[str, RoleClient]:
    return {p.policy: llm.client(f"policy.{p.policy}", context, model=p.model) for p in policies.itertuples()}


def _check_scoring(client: RoleClient, policy: str) -> None:
    """Fail before generating when the policy's backend cannot give log-probabilities."""
    from resources.llm import CapabilityError

    if client.backend.name == "openai" and getattr(client.backend, "_chat_template", None) is None:
        raise CapabilityError(
            f"policy '{policy}' runs on backend openai:{client.backend.model}, which cannot give the "
            "log-probabilities of given text without the model's chat template: set chat_template "
            f"under [roles.policy.{policy}] (and serve it with vLLM or llama.cpp), or use backend "
            "llamacpp or vllm")


@dg.multi_asset(
    specs=[dg.AssetSpec(["cje_logs", "policies"], deps=[["cje_logs", "prompts"]], group_name="cje_logs", kinds=KINDS),
           dg.AssetSpec(["cje_logs", "responses"], deps=[["cje_logs", "prompts"]], group_name="cje_logs", kinds=KINDS)],
    name="cje_logs_responses",
    pool=model_pool("policy.*"),
    description="Each policy's response to every prompt, with its token and sequence log-probabilities.",
)
def responses(context: dg.AssetExecutionContext, config: PoliciesConfig, llm: LLM, warehouse: Warehouse):
    import time

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
        _check_scoring(client, name)
    prompt_rows = warehouse.query("SELECT * FROM cje_logs.prompts ORDER BY prompt_id")
    out, started, total = [], time.monotonic(), len(prompt_rows) * len(policies)
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
            _progress(context, "responses", len(out), total, started)
    frame = pd.DataFrame(out)
    yield dg.MaterializeResult(asset_key=["cje_logs", "policies"],
                               metadata={"dagster/row_count": warehouse.write_table("cje_logs.policies", policies)})
    yield dg.MaterializeResult(asset_key=["cje_logs", "responses"], metadata={
        "dagster/row_count": warehouse.write_table("cje_logs.responses", frame),
        "empty_responses": int(frame.is_empty.sum()), "truncated_prompts": int(frame.prompt_truncated.sum())})


@dg.asset(key=["cje_logs", "teacher_forced_logprobs"], group_name="cje_logs", kinds=KINDS,
          deps=[["cje_logs", "responses"], ["cje_logs", "policies"]], pool=model_pool("policy.*"))
def teacher_forced_logprobs(context: dg.AssetExecutionContext, llm: LLM,
                            warehouse: Warehouse) -> dg.MaterializeResult:
    """Every base response scored under every policy. Flags: a long response with log-prob 0.0
    (the source pipeline's sign of a teacher-forcing bug), a positive or non-finite log-prob."""
    import time

    policies = warehouse.query("SELECT * FROM cje_logs.policies")
    clients = policy_clients(llm, context, policies)
    base = policies.loc[policies.is_base, "policy"].iloc[0]
    logged = warehouse.query(f"""
        SELECT r.prompt_id, p.prompt, r.response FROM cje_logs.responses r
        JOIN cje_logs.prompts p USING (prompt_id) WHERE r.policy = '{base}' ORDER BY r.prompt_id""")
    out, started, total = [], time.monotonic(), len(logged) * len(policies)
    for policy, client in clients.items():
        for r in logged.itertuples():
            s = client.score_sequence([{"role": "user", "content": r.prompt}], r.response)
            lp = s.logprob
            flag = ("non-finite log-probability" if not math.isfinite(lp)
                    else "positive log-probability" if lp > 0
                    else "log-probability 0.0 for a long response" if lp == 0.0 and len(s.tokens) > 5
                    else None)
            out.append({"prompt_id": r.prompt_id, "policy": policy, "logprob": lp,
                        "token_logprobs": s.token_logprobs, "n_tokens": len(s.tokens),
                        "boundary_ok": s.boundary_ok, "truncated": s.truncated, "flag": flag})
            _progress(context, "teacher forcing", len(out), total, started)
    frame = pd.DataFrame(out)
    n = warehouse.write_table("cje_logs.teacher_forced_logprobs", frame)
    return dg.MaterializeResult(metadata={"dagster/row_count": n, "flagged": int(frame.flag.notna().sum())})


def judge(client: RoleClient, prompt: str, response: str) -> dict:
    """Both judging modes for one response."""
    det = client.chat_json([{"role": "user", "content": judge_prompts.RUBRIC.format(
        scale=judge_prompts.DETERMINISTIC_SCALE, prompt=prompt, response=response)}],
        judge_prompts.SCORE_SCHEMA, temperature=0.0, max_tokens=12)
    unc = client.choice_logprobs([{"role": "user", "content": judge_prompts.RUBRIC.format(
        scale=judge_prompts.UNCERTAINTY_SCALE, prompt=prompt, response=response)}],
        options=judge_prompts.UNCERTAINTY_OPTIONS)
    lp = np.array([unc.logprobs[d] if unc.logprobs[d] is not None else -np.inf
                   for d in judge_prompts.UNCERTAINTY_OPTIONS])
    p = np.exp(lp - lp.max()) / np.exp(lp - lp.max()).sum() if np.isfinite(lp).any() else None
    digits = np.arange(10)
    return {"deterministic_score": det.value["score"] / 10 if det.ok else None,
            "deterministic_error": det.error,
            "uncertainty_score": float(p @ digits) / 9 if p is not None else None,
            "uncertainty_variance": float(p @ (digits - p @ digits) ** 2) / 81 if p is not None else None}


def _all_responses(warehouse: Warehouse) -> pd.DataFrame:
    return warehouse.query("""
        SELECT r.prompt_id, r.policy, r.draw_idx, p.prompt, r.response, pol.is_base
        FROM cje_logs.responses r JOIN cje_logs.prompts p USING (prompt_id)
        JOIN cje_logs.policies pol USING (policy) ORDER BY r.policy, r.prompt_id""")


@dg.asset(key=["cje_logs", "judge_scores"], group_name="cje_logs", kinds=KINDS,
          deps=[["cje_logs", "responses"]], pool=model_pool("judge"))
def judge_scores(context: dg.AssetExecutionContext, config: JudgeConfig, llm: LLM,
                 warehouse: Warehouse) -> dg.MaterializeResult:
    """Role judge on every response, in both modes."""
    import time

    client = llm.client("judge", context, model=config.proxy_model)
    rows, started = _all_responses(warehouse), time.monotonic()
    out = []
    for r in rows.itertuples():
        out.append({"prompt_id": r.prompt_id, "policy": r.policy, "draw_idx": r.draw_idx,
                    **judge(client, r.prompt, r.response)})
        _progress(context, "judge", len(out), len(rows), started)
    frame = pd.DataFrame(out)
    n = warehouse.write_table("cje_logs.judge_scores", frame)
    return dg.MaterializeResult(metadata={"dagster/row_count": n,
                                          "parse_errors": int(frame.deterministic_error.notna().sum())})


@dg.asset(key=["cje_logs", "oracle_labels"], group_name="cje_logs", kinds=KINDS,
          deps=[["cje_logs", "responses"]], pool=model_pool("oracle"))
def oracle_labels(context: dg.AssetExecutionContext, config: OracleConfig, llm: LLM,
                  warehouse: Warehouse) -> dg.MaterializeResult:
    """Role oracle on a seeded share of each policy's rows: the base's for calibration, each
    target's for validation."""
    if not 0 < config.oracle_fraction <= 1:
        raise DatasetError(f"oracle_fraction must be in (0, 1], got {config.oracle_fraction}")
    client = llm.client("oracle", context, model=config.oracle_model)
    rows = _all_responses(warehouse)
    rng = np.random.default_rng(config.seed)
    out = []
    for policy, group in rows.groupby("policy", sort=True):
        k = max(1, round(config.oracle_fraction * len(group)))
        for r in group.iloc[np.sort(rng.choice(len(group), size=k, replace=False))].itertuples():
            label = judge(client, r.prompt, r.response)["deterministic_score"]
            out.append({"prompt_id": r.prompt_id, "policy": policy, "draw_idx": r.draw_idx,
                        "oracle_label": label, "split": "calibration" if r.is_base else "validation"})
    frame = pd.DataFrame(out)
    n = warehouse.write_table("cje_logs.oracle_labels", frame)
    return dg.MaterializeResult(metadata={"dagster/row_count": n, "oracle_fraction": config.oracle_fraction,
                                          "seed": config.seed, "unparsed": int(frame.oracle_label.isna().sum())})
