"""The pipelines' commands: each materializes its Dagster assets in this process (history in
$DAGSTER_HOME), with run config built from the source tools' flags, and prints what it made.

Names follow one rule from the table a step writes: table `schema.table` is made by
`assets/<schema>/<table>.py`, its step (op, and run-config key) is `schema__table`, and its
defaults live under `[pipelines.<schema>.<table>]` in dagster_project.toml. A step that writes
several tables at once is named after the first (`cje_logs__responses` writes
`cje_logs.policies` too; `cje__logged_data` the six `cje.*` input tables).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import dagster as dg


def step(table: str) -> str:
    """The op name and run-config key of the step that writes `table` ("diff.rows" -> "diff__rows")."""
    return table.replace(".", "__")


def whole_groups_only(command: str) -> None:
    """The commands run whole groups in one run; a partitioned stage runs a partition per run."""
    from resources.settings import load_settings

    n = load_settings().warehouse.partitions
    if n:
        raise SystemExit(f"[warehouse] partitions = {n}: `{command}` runs whole groups in one run, and a partitioned "
                         "stage runs one partition per run. Set partitions = 0 for it, or run the partitioned stages "
                         "as a backfill (the UI, or dg launch -m definitions --assets arena/battle_differences "
                         "--partition <key>, for each key) and then the rest.")


def materialize(groups: list[str], ops: dict[str, dict]) -> dg.ExecuteInProcessResult:
    """Materialize every asset of `groups` (and their checks) with `ops` as each step's config."""
    whole_groups_only(f"vibescope {' + '.join(groups)}")
    import definitions
    from vibescope.slots import release_dead_runs

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    if instance is not None:
        release_dead_runs(instance)  # a killed earlier run must not hold the model slot for ever
    result = dg.materialize(
        [*definitions.defs.assets, *definitions.defs.asset_checks],
        resources=definitions.defs.resources, selection=dg.AssetSelection.groups(*groups),
        run_config={"ops": {name: {"config": config} for name, config in ops.items()}},
        instance=instance, raise_on_error=False)
    if not result.success:
        raise SystemExit(f"the {' + '.join(groups)} run failed: see the log above")
    return result


def metadata(result: dg.ExecuteInProcessResult, table: str, key: str):
    return result.asset_materializations_for_node(step(table))[0].metadata[key].value


# --- cje: build logs with real policies, then analyse them ---------------------------------
def add_cje(sub) -> None:
    p = sub.add_parser("cje", help="build CJE logs with real policies and analyse them in one run (the source "
                                   "tool's run_arena_analysis.py)", description=(
        "Policies are roles policy.<name> in dagster_project.toml; a --target-models name that is not a role is a "
        "model run on the base's backend with the base's prompt and sampling (with an OpenAI key and roles on "
        "backend openai: --base-model gpt-4o-mini --target-models gpt-4o gpt-4.1-nano). --proxy-model is the "
        "judge's model, --oracle-model the oracle's. The logs land in cje_logs.*, the analysis in cje.*, and the "
        "run folder <reports>/cje/<time>/ (and its zip) holds the phase-1 files, cje-eval's files and the results."))
    p.add_argument("--max-samples", type=int, default=20)
    p.add_argument("--oracle-fraction", type=float, default=0.25)
    p.add_argument("--base-model", default="", help="the base policy's model (default: its role's)")
    p.add_argument("--oracle-model", default="")
    p.add_argument("--proxy-model", default="", help="the judge's model")
    p.add_argument("--temperature", type=float, default=-1.0,
                   help="the base's (and model-name targets'); default: the role's")
    p.add_argument("--top-p", type=float, default=-1.0, help="likewise")
    p.add_argument("--base-policy", default="p0")
    p.add_argument("--target-models", nargs="+", default=["pi_clone", "pi_bad"],
                   help="target policies: roles policy.<name> or model names, space-separated")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--source", default="sample:arena", help="where prompts come from")
    p.add_argument("--logs-dir", default="", help="where the built logs are written (default: the run folder)")
    p.set_defaults(run=run_cje)


def run_cje(args: argparse.Namespace) -> Path:
    if not 0 < args.oracle_fraction <= 1:
        raise SystemExit(f"--oracle-fraction must be in (0, 1], got {args.oracle_fraction}")
    from datetime import datetime, timezone

    from resources.settings import load_settings

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder = (load_settings().path("reports") / "cje" / stamp).resolve()
    logs = Path(args.logs_dir).resolve() if args.logs_dir else folder
    targets = [t for names in args.target_models for t in names.split(",") if t]  # "a,b" as before
    result = materialize(["cje_logs", "cje"], {
        step("cje_logs.prompts"): {"source": args.source, "max_samples": args.max_samples, "seed": args.seed},
        step("cje_logs.responses"): {"base_policy": args.base_policy, "base_model": args.base_model,
                                     "target_policies": targets, "temperature": args.temperature, "top_p": args.top_p},
        step("cje_logs.judge_scores"): {"proxy_model": args.proxy_model},
        step("cje_logs.oracle_labels"): {"oracle_fraction": args.oracle_fraction, "seed": args.seed,
                                         "oracle_model": args.oracle_model},
        step("cje_logs.export"): {"output_dir": str(logs)},
        # the builder already chose which rows carry oracle labels: calibration uses every one
        step("cje.logged_data"): {"source": "cje_logs", "oracle_fraction": 1.0, "seed": args.seed},
        step("cje.calibrated_rewards"): {"n_folds": args.n_folds},
        step("cje.report"): {"run_folder": str(folder)},
    })
    print(metadata(result, "cje.report", "results"))
    print(f"run folder: {folder} (and {folder}.zip)" + (f"\nlogs: {logs}" if logs != folder else ""))
    return folder


# --- diff: what tells dataset A from dataset B ---------------------------------------------
def add_diff(sub) -> None:
    p = sub.add_parser("diff", help="an LLM-written classifier prompt that tells dataset A from B",
                       description="Flags as the source tool's: python -m vibescope diff a.csv b.csv "
                                   "--text-column answer --extra-prompt '...' --model NAME --output report/")
    p.add_argument("a", help="dataset A: csv, jsonl, json or parquet path (or sample:<name>, hf:<id>)")
    p.add_argument("b", help="dataset B")
    p.add_argument("--text-column", default="answer")
    p.add_argument("--text-column-b", default="", help="B's text column, if it differs")
    p.add_argument("--pair-key", default="", help="sort both by this column to pair rows")
    p.add_argument("--extra-prompt", default="")
    p.add_argument("--model", default="", help="model for the describer and classifier roles")
    p.add_argument("--output", default="", help="report folder (default <reports>/diff/<time>)")
    p.add_argument("--batch_size", "--batch-size", type=int, default=16)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-rows", type=int, default=0, help="rows per side (0 = all)")
    p.add_argument("--test-fraction", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run_diff)


def run_diff(args: argparse.Namespace) -> str:
    result = materialize(["diff"], {
        step("diff.rows"): {"a": args.a, "b": args.b, "text_column": args.text_column,
                            "text_column_b": args.text_column_b, "pair_key": args.pair_key,
                            "max_rows": args.max_rows, "test_fraction": args.test_fraction, "seed": args.seed},
        step("diff.iterations"): {"batch_size": args.batch_size, "epochs": args.epochs,
                                  "extra_prompt": args.extra_prompt, "model": args.model},
        step("diff.report"): {"output_dir": os.path.abspath(args.output) if args.output else ""},
    })
    from resources.warehouse import Warehouse

    metrics = Warehouse().query("""
        SELECT stage, iteration, split, n, n_abstained, accuracy, accuracy_ci_low, accuracy_ci_high,
               binomial_p_value, auroc, brier FROM diff.iteration_metrics ORDER BY stage, iteration, split""")
    print(metrics.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    folder = metadata(result, "diff.report", "folder")
    print(f"\nreport: {folder}")
    return folder


# --- acts: the LLM calls a configuration will make -----------------------------------------
def add_acts(sub) -> None:
    p = sub.add_parser("acts", help="activation clusters: `plan` prints the LLM calls the settings' run makes")
    p.add_argument("action", choices=["plan"])
    p.add_argument("settings", nargs="?", default=None, help="a settings file (default: dagster_project.toml)")
    p.set_defaults(run=run_acts_plan)


def run_acts_plan(args: argparse.Namespace) -> dict:
    from analysis.llm_call_plan import from_configs
    from assets.acts.config import ClustersConfig, GradesConfig, TitlesConfig
    from resources.settings import with_settings_defaults

    configs = [with_settings_defaults(cls, table, args.settings)().model_dump() for cls, table in (
        (ClustersConfig, "acts.cluster_assignments"), (TitlesConfig, "acts.cluster_titles"),
        (GradesConfig, "acts.grades"))]
    calls = from_configs(*configs)
    for name, n in calls.items():
        print(f"{name:>12}  {n}")
    return calls


# --- arena: how well a fictional run recovered its planted behaviours -----------------------
def add_arena(sub) -> None:
    p = sub.add_parser("arena", help="arena behaviours: `recovery` prints arena.planted_recovery of the "
                                     "latest fictional run")
    p.add_argument("action", choices=["recovery"])
    p.set_defaults(run=run_arena_recovery)


def run_arena_recovery(args: argparse.Namespace) -> None:
    import duckdb

    from resources.reader import open_reader, where_readers_read
    from resources.settings import load_settings

    settings = load_settings()
    try:
        with open_reader(settings) as con:
            table = con.execute("SELECT * FROM arena.planted_recovery").df()
    except duckdb.CatalogException as exc:
        raise SystemExit(f"{where_readers_read(settings)}: {exc.args[0].splitlines()[0].rstrip('.')}; materialize group arena first")
    except FileNotFoundError as exc:
        raise SystemExit(str(exc))
    if table.empty:
        raise SystemExit("arena.planted_recovery is empty: the last arena run had no planted behaviours; "
                         "materialize group arena with arena__battles config dataset: fictional")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    levels = table.groupby("level").recovered.sum()
    print(f"recovered {int(levels.get('fine', 0))} of {table.model.nunique()} planted behaviours (fine), "
          f"{int(levels.get('coarse', 0))} (coarse)")
