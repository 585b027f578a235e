"""`cje_logs/export`: the built logs as files other tools read: cje-eval's formats and the source
pipeline's phase-1 files, under the source's names. (The CJE analysis reads the staging table
`cje_logs.logged_rows` directly when its source is `cje_logs`.)

<output_dir>/   (`vibescope cje build`: the run folder, beside the results)
  arena_prompts_<n>.jsonl              the n prompts (prompt_id, prompt)
  all_responses.jsonl                  every policy's response, with its sampling settings
  logprobs.jsonl                       every base response teacher-forced under every policy
                                       (sequence and token log-probabilities, flags)
  p0_scored_{deterministic,uncertainty}.jsonl   the base's responses, judged, with the base's
                                       and every target's log-probability of them
  targets_scored_{deterministic,uncertainty}.jsonl
  oracle_labels_{calibration,validation}.jsonl
  dataset_info.json                    counts, models, seeds, sampling, settings hash
  logged_data.jsonl                    cje-eval logged data (base responses, all log-probs,
                                       judge score, oracle label on calibration rows)
  fresh_draws/<policy>_responses.jsonl each policy's own responses (judge, oracle where labelled)
  probe_slice/<policy>_probe.jsonl     each target's validation-labelled rows
A log-probability of -inf (a response the policy cannot sample) is written -Infinity, as Python's
json module and cje-eval read it.
"""

import hashlib
import json
from pathlib import Path

import dagster as dg
import pandas as pd

from analysis.cje_records import clean, draw_record, logged_record, probe_rows
from assets.cje_logs.config import ExportConfig
from assets.lineage import RESULT, Query, reads
from resources.warehouse import Warehouse

LOGGED_ROWS = Query("SELECT * FROM cje_logs.logged_rows")
PROMPTS = Query("SELECT prompt_id, prompt FROM cje_logs.prompts ORDER BY prompt_id")
RESPONSES = Query("SELECT * FROM cje_logs.policy_responses ORDER BY policy, prompt_id")
LOGPROBS = Query("""
    SELECT prompt_id, policy, logprob, token_logprobs, n_tokens, outside_support, boundary_ok, truncated, flag
    FROM cje_logs.teacher_forced_logprobs
    ORDER BY policy, prompt_id
""")
POLICIES = Query("SELECT * FROM cje_logs.policies ORDER BY NOT is_base, policy")
# the run config each step ran with (seeds, models given on the command line)
STEP_CONFIGS = Query("SELECT table_name, config FROM core.materializations WHERE table_name LIKE 'cje_logs.%'")
# the models and share the steps ran with (a step's own setting, else its role's model)
STEP_CHOICES = Query("""
    SELECT
        max(CASE WHEN table_name = 'cje_logs.judge_scores' THEN config::JSON->>'proxy_model' END) AS judge,
        max(CASE WHEN table_name = 'cje_logs.oracle_labels' THEN config::JSON->>'oracle_model' END) AS oracle,
        max(CASE WHEN table_name = 'cje_logs.oracle_labels' THEN (config::JSON->>'oracle_fraction')::DOUBLE END)
            AS oracle_fraction
    FROM core.materializations
""")


def _write(path: Path, records) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    records = list(records)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return len(records)


def _numbers(values) -> list[float] | None:
    return None if values is None else [float(v) for v in values]


def _record(row) -> dict:
    return {k: _numbers(v) if k == "token_logprobs" else clean(v.item() if hasattr(v, "item") else v)
            for k, v in row._asdict().items() if k != "Index"}


def dataset_info(warehouse: Warehouse, rows, counts: dict) -> dict:
    """Counts, models, seeds and sampling of the built logs, and a hash of what made them."""
    policies = warehouse.query(POLICIES)
    configs = {r.table_name: json.loads(r.config) if isinstance(r.config, str) else {}  # NULL: a step without config
               for r in warehouse.query(STEP_CONFIGS).itertuples()}
    settings = warehouse.settings
    chosen = warehouse.query(STEP_CHOICES).iloc[0]
    models = {role: chosen[role] if isinstance(chosen[role], str) and chosen[role] else settings.roles[role].model
              for role in ("judge", "oracle")}
    policy_rows = [{k: clean(v.item() if hasattr(v, "item") else v) for k, v in p.items()}
                   for p in policies.to_dict("records")]
    made_by = json.dumps({"policies": policy_rows, "models": models, "configs": configs,
                          "settings": Path(settings.file).read_text()}, sort_keys=True, default=str)
    return {
        "counts": {"prompts": int(rows.prompt_id.nunique()), **counts,
                   "oracle_labels": {s: int(n) for s, n in rows.split.value_counts().items()}},
        "base_policy": policies[policies.is_base].policy.iloc[0],
        "policies": policy_rows,
        "models": models,
        "seeds": {table: {k: v for k, v in c.items() if "seed" in k} for table, c in configs.items()
                  if any("seed" in k for k in c)},
        "oracle_fraction": None if pd.isna(chosen.oracle_fraction) else float(chosen.oracle_fraction),
        "settings_file": str(settings.file),
        "settings_hash": hashlib.sha256(made_by.encode()).hexdigest(),
    }


@dg.asset(key=["cje_logs", "export"], group_name="cje_logs", kinds={"python", "file"}, tags=RESULT,
          deps=reads(LOGGED_ROWS, PROMPTS, RESPONSES, LOGPROBS, POLICIES))
def export(context: dg.AssetExecutionContext, config: ExportConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """The built logs as cje-eval and phase-1 files (see the module docstring)."""
    out = Path(config.output_dir) if config.output_dir else warehouse.settings.path("reports") / "cje_logs"
    rows = warehouse.query(LOGGED_ROWS)
    prompts = warehouse.query(PROMPTS)
    counts = {
        f"arena_prompts_{len(prompts)}": _write(out / f"arena_prompts_{len(prompts)}.jsonl", map(_record, prompts.itertuples())),
        "all_responses": _write(out / "all_responses.jsonl", map(_record, warehouse.query(RESPONSES).itertuples())),
        "logprobs": _write(out / "logprobs.jsonl", map(_record, warehouse.query(LOGPROBS).itertuples())),
        "logged_data": _write(out / "logged_data.jsonl", map(logged_record, rows[rows.is_base].itertuples())),
    }
    for policy, group in rows.groupby("policy"):
        counts[f"fresh_draws/{policy}"] = _write(out / "fresh_draws" / f"{policy}_responses.jsonl",
                                                 map(draw_record, group.itertuples()))
        if policy != "base":
            counts[f"probe_slice/{policy}"] = _write(out / "probe_slice" / f"{policy}_probe.jsonl", (
                {"prompt_id": r.prompt_id, "prompt": r.prompt, "response": r.response,
                 "judge_score": clean(r.judge_score), "oracle_label": r.oracle_label}
                for r in probe_rows(group).itertuples()))
    for who, part in (("p0", rows[rows.is_base]), ("targets", rows[~rows.is_base])):
        for mode, fields in (("deterministic", {"deterministic_score": "judge_score"}),
                             ("uncertainty", {"uncertainty_score": "judge_score", "uncertainty_variance": "judge_variance"})):
            counts[f"{who}_scored_{mode}"] = _write(out / f"{who}_scored_{mode}.jsonl", (
                {"prompt_id": r.prompt_id, "policy": r.built_policy, "prompt": r.prompt, "response": r.response,
                 **{name: clean(getattr(r, column)) for column, name in fields.items()},
                 **({"base_policy_logprob": clean(r.base_policy_logprob),
                     "target_policy_logprobs": json.loads(r.target_policy_logprobs or "{}")} if who == "p0" else {})}
                for r in part.itertuples()))
    for split in ("calibration", "validation"):
        counts[f"oracle_labels_{split}"] = _write(out / f"oracle_labels_{split}.jsonl", (
            {"prompt_id": r.prompt_id, "policy": r.built_policy, "prompt": r.prompt, "response": r.response,
             "oracle_label": r.oracle_label, "judge_score": clean(r.judge_score)}
            for r in rows[(rows.split == split) & rows.oracle_label.notna()].itertuples()))
    info = dataset_info(warehouse, rows, counts)
    (out / "dataset_info.json").write_text(json.dumps(info, indent=2))
    context.log.info(f"exported to {out}: {counts}")
    return dg.MaterializeResult(metadata={"folder": dg.MetadataValue.path(str(out)),
                                          "settings_hash": info["settings_hash"],
                                          **{k.replace("/", "_"): v for k, v in counts.items()}})
