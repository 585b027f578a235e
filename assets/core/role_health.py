"""`core.role_health`: one short call per role, so a broken backend shows up before a long run."""

import time

import dagster as dg
import pandas as pd

from assets.core.llm_calls import LLM_KIND
from assets.core.pools import model_pool
from assets.core.tables import Written, one, table_step
from assets.lineage import INPUT
from resources.llm import LLM, LLMBackendError, LLMConfigError
from resources.settings import load_settings
from resources.warehouse import Warehouse

PROMPT = [{"role": "user", "content": "Reply with the single word OK."}]


class RoleHealthConfig(dg.Config):
    roles: list[str] | None = None  # None: [pipelines.core] health_roles in the settings file


@table_step(layer=INPUT, kinds={"duckdb", LLM_KIND}, pool=model_pool("*"))
def role_health(context: dg.AssetExecutionContext, config: RoleHealthConfig, llm: LLM,
                warehouse: Warehouse) -> Written:
    """Per role: its backend and model, whether one short chat call answered, latency, reply."""
    defaults = load_settings(llm.settings_file or None).pipeline_defaults("core", {"health_roles"})
    roles = config.roles or defaults.get("health_roles") or list(llm.settings.roles)
    rows = []
    for role in roles:
        spec = llm.settings.role(role)
        started = time.perf_counter()
        try:
            reply = llm.client(role, context).chat(PROMPT, max_tokens=8)
            text, error, cached = reply.text, None, reply.cached
        except (LLMBackendError, LLMConfigError) as exc:
            text, error, cached = None, str(exc), False
        rows.append(dict(role=role, backend=spec.backend, model=spec.model, ok=error is None,
                         cached=cached, latency_s=time.perf_counter() - started, reply=text,
                         error=error))
    frame = pd.DataFrame(rows)
    failing = frame.loc[~frame["ok"], "role"].tolist()
    if failing:
        context.log.warning(f"roles whose backend did not answer: {failing}")
    return one(frame, {"failing_roles": failing})
