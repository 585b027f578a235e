"""Where a Dagster run's time went, read from the instance's event log and the LLM call log.

One row per step: seconds from its start to its end, LLM calls and how many the cache answered;
the steps that failed with their first error line. Read after the run, never by a report page
(those read tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg
import pandas as pd

from resources.llm.cache import CallCache
from resources.settings import load_settings


@dataclass
class RunReport:
    run_id: str
    status: str
    seconds: float
    steps: pd.DataFrame                      # step, pipeline, status, seconds, llm_calls, cache_hits
    failures: dict[str, str] = field(default_factory=dict)  # step -> first error line

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS" and not self.failures

    def render(self) -> str:
        table = self.steps.copy()
        table["seconds"] = table.seconds.map(lambda s: f"{s:8.1f}")
        per_pipeline = self.steps.groupby("pipeline").seconds.sum().sort_values(ascending=False)
        lines = [table.to_string(index=False), "",
                 "step seconds per pipeline: " + ", ".join(f"{p} {s:.0f} s" for p, s in per_pipeline.items()),
                 f"run {self.run_id}: {self.status}, {self.seconds / 60:.1f} min "
                 f"({len(self.steps)} steps, {int(self.steps.llm_calls.sum())} LLM calls, "
                 f"{int(self.steps.cache_hits.sum())} answered by the cache)"]
        for step, error in self.failures.items():
            lines.append(f"FAILED {step}: {error}")
        return "\n".join(lines)


def pipeline_of_steps(defs: dg.Definitions) -> dict[str, str]:
    """Step (op) name -> the asset group (pipeline) it writes or checks."""
    groups = {}
    for a in defs.assets or []:
        if isinstance(a, dg.AssetsDefinition) and a.is_executable:
            groups[a.op.name] = next(iter(a.group_names_by_key.values()), "default")
    by_key = {key: group for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)
              for key, group in a.group_names_by_key.items()}
    for c in defs.asset_checks or []:
        groups[c.op.name] = by_key.get(next(iter(c.check_keys)).asset_key, "default")
    return groups


def _step_of(asset: str | None) -> str | None:
    """The call log names an asset by its key ("arena/battles") or a multi-asset by its op."""
    return asset.replace("/", "__") if asset else None


def latest_run_id(instance: dg.DagsterInstance) -> str:
    runs = instance.get_runs(limit=1)
    if not runs:
        raise SystemExit(f"no run in the Dagster instance at {instance.root_directory}")
    return runs[0].run_id


def run_report(instance: dg.DagsterInstance, run_id: str, pipelines: dict[str, str],
               settings_file: str | None = None) -> RunReport:
    run = instance.get_run_by_id(run_id)
    if run is None:
        raise SystemExit(f"no run {run_id} in the Dagster instance at {instance.root_directory}")
    started, ended, failures = {}, {}, {}
    status = {}
    run_times = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type_value
        run_times.append(entry.timestamp)
        if kind == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED", "STEP_UP_FOR_RETRY"):
            ended[event.step_key] = entry.timestamp
            status[event.step_key] = kind.removeprefix("STEP_").lower()
            if kind == "STEP_FAILURE":
                error = event.step_failure_data.error
                message = (error.cause or error).message if error else "unknown error"
                failures[event.step_key] = next((line for line in message.splitlines() if line.strip()), message)
    calls = CallCache(load_settings(settings_file).path("cache")).calls()
    calls = calls[calls.run_id == run_id]
    per_step = (calls.assign(step=calls.asset.map(_step_of))
                .groupby("step").agg(llm_calls=("cached", "size"), cache_hits=("cached", "sum")))
    steps = pd.DataFrame([{"step": step, "pipeline": pipelines.get(step, "?"), "status": status.get(step, "running"),
                           "seconds": ended.get(step, max(run_times)) - t0} for step, t0 in started.items()])
    steps = (steps.join(per_step, on="step").fillna({"llm_calls": 0, "cache_hits": 0})
             .astype({"llm_calls": int, "cache_hits": int})
             .sort_values("seconds", ascending=False, ignore_index=True))
    return RunReport(run_id=run_id, status=run.status.value,
                     seconds=(max(run_times) - min(run_times)) if run_times else 0.0,
                     steps=steps, failures=failures)
