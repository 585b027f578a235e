"""Export the built logs as files other tools read: cje-eval's formats and the source pipeline's
phase-2 files. The CJE analysis (`cje_logged_data`) reads the cje-eval files back, so logs built
here and logs from elsewhere take the same path into `cje.*`.

<output_dir>/
  logged_data.jsonl                      cje-eval logged data (base responses, all log-probs,
                                         judge score, oracle label on calibration rows)
  fresh_draws/<policy>_responses.jsonl   each policy's own responses (judge, oracle where labelled)
  probe_slice/<policy>_probe.jsonl       each target's validation-labelled rows
  p0_scored_{deterministic,uncertainty}.jsonl, targets_scored_{deterministic,uncertainty}.jsonl
  labeling/oracle_labels_{calibration,validation}_detailed.jsonl
"""

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.cje.build.config import ExportConfig
from resources.settings import load_settings
from resources.warehouse import Warehouse

ROWS = """
    SELECT r.prompt_id, r.policy, r.draw_idx, p.prompt, r.response, pol.is_base,
           j.deterministic_score, j.uncertainty_score, j.uncertainty_variance,
           o.oracle_label, o.split
    FROM cje_logs.responses AS r
    JOIN cje_logs.prompts AS p USING (prompt_id)
    JOIN cje_logs.policies AS pol USING (policy)
    LEFT JOIN cje_logs.judge_scores AS j USING (prompt_id, policy, draw_idx)
    LEFT JOIN cje_logs.oracle_labels AS o USING (prompt_id, policy, draw_idx)
    ORDER BY r.policy, r.prompt_id
"""


def _write(path: Path, records) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    records = list(records)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return len(records)


def _clean(value):
    return None if isinstance(value, float) and pd.isna(value) else value


@dg.asset(key=["cje_logs", "export"], group_name="cje_logs", kinds={"python", "file"},
          deps=[["cje_logs", "teacher_forced_logprobs"], ["cje_logs", "judge_scores"],
                ["cje_logs", "oracle_labels"], ["cje_logs", "summary"]])
def export(context: dg.AssetExecutionContext, config: ExportConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """The built logs as cje-eval and phase-2 files (see the module docstring)."""
    out = Path(config.output_dir) if config.output_dir else (
        load_settings(warehouse.settings_file or None).path("reports") / "cje_logs")
    rows = warehouse.query(ROWS)
    logprobs = warehouse.query("SELECT prompt_id, policy, logprob FROM cje_logs.teacher_forced_logprobs")
    lp = logprobs.pivot(index="prompt_id", columns="policy", values="logprob")
    base = rows.loc[rows.is_base, "policy"].iloc[0]
    targets = sorted(set(rows.policy) - {base})

    def judge_score(r) -> float | None:  # the deterministic score; the expected digit if it failed
        return _clean(r.deterministic_score) if pd.notna(r.deterministic_score) else _clean(r.uncertainty_score)

    counts = {}
    logged = rows[rows.is_base]
    counts["logged_data"] = _write(out / "logged_data.jsonl", (
        {"prompt": r.prompt, "response": r.response, "base_policy_logprob": _clean(lp.at[r.prompt_id, base]),
         "target_policy_logprobs": {t: _clean(lp.at[r.prompt_id, t]) for t in targets},
         "judge_score": judge_score(r), "metadata": {"prompt_id": r.prompt_id},
         **({"oracle_label": r.oracle_label} if r.split == "calibration" and pd.notna(r.oracle_label) else {})}
        for r in logged.itertuples()))
    for policy, group in rows.groupby("policy"):
        name = "base" if policy == base else policy
        counts[f"fresh_draws/{name}"] = _write(out / "fresh_draws" / f"{name}_responses.jsonl", (
            {"prompt_id": r.prompt_id, "prompt": r.prompt, "response": r.response,
             "judge_score": judge_score(r), "draw_idx": int(r.draw_idx),
             **({"oracle_label": r.oracle_label} if pd.notna(r.oracle_label) else {})}
            for r in group.itertuples()))
        if policy != base:
            counts[f"probe_slice/{name}"] = _write(out / "probe_slice" / f"{name}_probe.jsonl", (
                {"prompt_id": r.prompt_id, "prompt": r.prompt, "response": r.response,
                 "judge_score": judge_score(r), "oracle_label": r.oracle_label}
                for r in group[(group.split == "validation") & group.oracle_label.notna()].itertuples()))
    for who, part in (("p0", rows[rows.is_base]), ("targets", rows[~rows.is_base])):
        for mode, fields in (("deterministic", ("deterministic_score",)),
                             ("uncertainty", ("uncertainty_score", "uncertainty_variance"))):
            _write(out / f"{who}_scored_{mode}.jsonl", (
                {"prompt_id": r.prompt_id, "policy": r.policy, "prompt": r.prompt, "response": r.response,
                 **{f.replace("deterministic_score", "judge_score").replace("uncertainty_score", "judge_score")
                    .replace("uncertainty_variance", "judge_variance"): _clean(getattr(r, f)) for f in fields}}
                for r in part.itertuples()))
    for split in ("calibration", "validation"):
        _write(out / "labeling" / f"oracle_labels_{split}_detailed.jsonl", (
            {"prompt_id": r.prompt_id, "policy": r.policy, "prompt": r.prompt, "response": r.response,
             "oracle_label": r.oracle_label, "judge_score": judge_score(r)}
            for r in rows[(rows.split == split) & rows.oracle_label.notna()].itertuples()))
    context.log.info(f"exported to {out}: {counts}")
    return dg.MaterializeResult(metadata={"folder": dg.MetadataValue.path(str(out)),
                                          **{k.replace("/", "_"): v for k, v in counts.items()}})
