"""`cje_logs/export`: the built logs as files other tools read, from `cje_logs.logged_rows`:
cje-eval's formats and the source pipeline's phase-2 files. (The CJE analysis reads the same
staging table directly when its source is `cje_logs`.)

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

from analysis.cje_records import clean, draw_record, logged_record, probe_rows
from assets.cje_logs.config import ExportConfig
from assets.lineage import RESULT, Query, reads
from resources.warehouse import Warehouse

LOGGED_ROWS = Query("SELECT * FROM cje_logs.logged_rows")


def _write(path: Path, records) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    records = list(records)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return len(records)


@dg.asset(key=["cje_logs", "export"], group_name="cje_logs", kinds={"python", "file"}, tags=RESULT,
          deps=reads(LOGGED_ROWS))
def export(context: dg.AssetExecutionContext, config: ExportConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """The built logs as cje-eval and phase-2 files (see the module docstring)."""
    out = Path(config.output_dir) if config.output_dir else warehouse.settings.path("reports") / "cje_logs"
    rows = warehouse.query(LOGGED_ROWS)
    counts = {"logged_data": _write(out / "logged_data.jsonl", map(logged_record, rows[rows.is_base].itertuples()))}
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
            _write(out / f"{who}_scored_{mode}.jsonl", (
                {"prompt_id": r.prompt_id, "policy": r.built_policy, "prompt": r.prompt, "response": r.response,
                 **{name: clean(getattr(r, column)) for column, name in fields.items()}}
                for r in part.itertuples()))
    for split in ("calibration", "validation"):
        _write(out / "labeling" / f"oracle_labels_{split}_detailed.jsonl", (
            {"prompt_id": r.prompt_id, "policy": r.built_policy, "prompt": r.prompt, "response": r.response,
             "oracle_label": r.oracle_label, "judge_score": clean(r.judge_score)}
            for r in rows[(rows.split == split) & rows.oracle_label.notna()].itertuples()))
    context.log.info(f"exported to {out}: {counts}")
    return dg.MaterializeResult(metadata={"folder": dg.MetadataValue.path(str(out)),
                                          **{k.replace("/", "_"): v for k, v in counts.items()}})
