"""The whole Arena CJE experiment in one command (like the source tool's run_arena_analysis.py):
build logs with real policies (group `cje_logs`), then analyse them (group `cje`).

    python -m assets.cje.experiment --max-samples 20 --oracle-fraction 0.25 \\
        --base-model smollm2-135m-instruct --target-models pi_clone,pi_bad --seed 42

Policies are roles `policy.<name>` in dagster_project.toml (any backend: with an OpenAI key,
`--base-model gpt-3.5-turbo` on roles whose backend is openai). `--proxy-model` is the judge's
model, `--oracle-model` the oracle's. Both runs go through Dagster (history in $DAGSTER_HOME when
set); the analysis writes its timestamped run folder and zip, and the results table is printed.
"""

import argparse
import os
from pathlib import Path

import dagster as dg


def run(selection: str, run_config: dict) -> dg.ExecuteInProcessResult:
    import definitions

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    if instance is not None:
        from vibescope.slots import release_dead_runs

        release_dead_runs(instance)  # a killed earlier run must not hold the model slot for ever
    result = dg.materialize(
        [*definitions.defs.assets, *definitions.defs.asset_checks],
        resources=definitions.defs.resources, selection=dg.AssetSelection.groups(selection),
        run_config=run_config, instance=instance, raise_on_error=False)
    if not result.success:
        raise SystemExit(f"the {selection} run failed: see the log above")
    return result


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m assets.cje.experiment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-samples", type=int, default=20)
    parser.add_argument("--oracle-fraction", type=float, default=0.25)
    parser.add_argument("--base-model", default="", help="model of every policy (default: each role's)")
    parser.add_argument("--oracle-model", default="")
    parser.add_argument("--proxy-model", default="", help="the judge's model")
    parser.add_argument("--temperature", type=float, default=-1.0, help="default: each policy's own")
    parser.add_argument("--top-p", type=float, default=-1.0)
    parser.add_argument("--base-policy", default="p0")
    parser.add_argument("--target-models", default="pi_clone,pi_bad", help="target policies, comma-separated")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--n-folds", type=int, default=5)
    parser.add_argument("--source", default="sample:arena", help="where prompts come from")
    parser.add_argument("--logs-dir", default="", help="where the built logs are exported")
    args = parser.parse_args(argv)
    if not 0 < args.oracle_fraction <= 1:
        parser.error(f"--oracle-fraction must be in (0, 1], got {args.oracle_fraction}")

    from resources.settings import load_settings
    from resources.warehouse import Warehouse

    logs = Path(args.logs_dir or load_settings().path("reports") / "cje_logs").resolve()
    targets = [t for t in args.target_models.split(",") if t]
    run("cje_logs", {"ops": {
        "cje_logs__prompts": {"config": {"source": args.source, "max_samples": args.max_samples, "seed": args.seed}},
        "cje_logs_responses": {"config": {"base_policy": args.base_policy, "target_policies": targets,
                                          "base_model": args.base_model, "temperature": args.temperature,
                                          "top_p": args.top_p}},
        "cje_logs__judge_scores": {"config": {"proxy_model": args.proxy_model}},
        "cje_logs__oracle_labels": {"config": {"oracle_fraction": args.oracle_fraction, "seed": args.seed,
                                               "oracle_model": args.oracle_model}},
        "cje_logs__export": {"config": {"output_dir": str(logs)}},
    }})
    identical = Warehouse().query("SELECT policy FROM cje_logs.identical_policies").policy.tolist()
    analysed = run("cje", {"ops": {
        # the builder already chose which rows carry oracle labels: use every exported one
        "cje_logged_data": {"config": {"logged_data": str(logs / "logged_data.jsonl"),
                                       "fresh_draws_dir": str(logs / "fresh_draws"),
                                       "probe_dir": str(logs / "probe_slice"), "oracle_fraction": 1.0,
                                       "seed": args.seed, "identical_policies": identical}},
        "cje_calibrated_rewards": {"config": {"n_folds": args.n_folds}},
    }})
    folder = Path(analysed.asset_materializations_for_node("cje__report")[0].metadata["run_folder"].value)
    print(analysed.asset_materializations_for_node("cje__report")[0].metadata["results"].value)
    print(f"logs: {logs}\nrun folder: {folder} (and {folder}.zip)")
    return folder


if __name__ == "__main__":
    main()
