"""`vibescope acts TRACES` (activation clusters of reasoning traces) and `vibescope acts plan`."""

from __future__ import annotations

import argparse
import os

from vibescope.run import add_model_flags, named_path, apply_model_flags, materialize, metadata, reader, show, step


def add_acts(sub) -> None:
    p = sub.add_parser("acts", help="activation clusters of your reasoning traces; `vibescope acts plan` "
                                    "counts the LLM calls a configuration makes")
    p.add_argument("traces", help="a json, jsonl, csv or parquet file of traces (or of questions, with --questions)")
    acts_flags(p)
    add_model_flags(p)
    p.set_defaults(run=run_acts)


def acts_flags(p: argparse.ArgumentParser) -> None:
    """The run's flags, which `vibescope acts plan` takes too, so that it plans the run a user is about to start."""
    p.add_argument("--text-column", default="full_response")
    p.add_argument("--questions", action="store_true",
                   help="the file holds questions (--question-column): role policy.reasoner writes the traces")
    p.add_argument("--question-column", default="question")
    p.add_argument("--n-examples", type=int, default=0, help="traces sampled (0 = all)")
    p.add_argument("--layers", "--layer", nargs="+", type=int, default=[12],
                   help="hidden-state layers, all from one forward pass (a sweep: --layers 6 12 18)")
    p.add_argument("--methods", nargs="+", default=None, help="clustering methods (default: all)")
    p.add_argument("--clusters", nargs="+", type=int, default=None, help="numbers of clusters (default 5 to 50)")
    p.add_argument("--repetitions", type=int, default=None, help="namer repetitions (default 5)")
    p.add_argument("--n-test", type=int, default=None,
                   help="held-out sentences per cluster (and as many from others) the grader is asked about (default 5)")
    p.add_argument("--seed", type=int, default=42)


def run_acts(args: argparse.Namespace) -> None:
    path = named_path("acts", "questions" if args.questions else "traces", args.traces)
    apply_model_flags(args, ("namer", "grader", *(("policy.reasoner",) if args.questions else ())))
    traces = ({"questions": path, "question_column": args.question_column, "source": ""} if args.questions
              else {"source": path, "text_column": args.text_column})
    clusters = {k: v for k, v in (("methods", args.methods), ("clusters", args.clusters)) if v}
    result = materialize(["acts"], {
        step("acts.traces"): {**traces, "n_examples": args.n_examples, "seed": args.seed},
        step("acts.activations"): {"layers": args.layers},
        step("acts.cluster_assignments"): {**clusters, "seed": args.seed},
        step("acts.cluster_titles"): {"seed": args.seed, **({"repetitions": args.repetitions} if args.repetitions else {})},
        step("acts.grades"): {"seed": args.seed, **({"n_test": args.n_test} if args.n_test else {})},
    })
    with reader() as con:
        show("activation clusters: each layer x method x k by its graded final score (higher is better)", con.sql("""
            SELECT layer, method, k, mean AS final_score, ci_low, ci_high, n AS repetitions, grader_discriminates
            FROM acts.clustering_scores WHERE metric = 'final_score' AND kind = 'graded'
            ORDER BY mean DESC NULLS LAST LIMIT 10""").df())
    print(f"\nresults: {metadata(result, 'acts.results', 'output_dir')}; tables acts.*")


def add_acts_plan(sub) -> None:
    p = sub.add_parser("acts-plan", help="`vibescope acts plan [TRACES] [flags of vibescope acts]`: the LLM calls "
                                         "that run makes, before it runs")
    p.add_argument("traces", nargs="?", default=None,
                   help="the traces file the run reads (optional: the calls depend on the flags, not on it)")
    p.add_argument("--settings", default=None, help="a settings file (default: dagster_project.toml)")
    acts_flags(p)
    p.set_defaults(run=run_acts_plan)


def run_acts_plan(args: argparse.Namespace) -> dict:
    from analysis.llm_call_plan import from_configs
    from assets.acts.config import ActivationsConfig, ClustersConfig, GradesConfig, TitlesConfig
    from resources.settings import with_settings_defaults

    if args.traces and args.traces.endswith(".toml"):  # the settings file, as this command once took it
        args.settings, args.traces = args.traces, None
    if args.traces and not os.path.exists(args.traces):
        raise SystemExit(f"vibescope acts plan: no traces file {args.traces}")
    flags = {"acts.cluster_assignments": {k: v for k, v in (("methods", args.methods), ("clusters", args.clusters)) if v},
             "acts.cluster_titles": {"repetitions": args.repetitions} if args.repetitions else {},
             "acts.grades": {"n_test": args.n_test} if args.n_test else {},
             "acts.activations": {"layers": args.layers}}
    configs = [with_settings_defaults(cls, table, args.settings)(**flags[table]).model_dump() for cls, table in (
        (ClustersConfig, "acts.cluster_assignments"), (TitlesConfig, "acts.cluster_titles"),
        (GradesConfig, "acts.grades"), (ActivationsConfig, "acts.activations"))]
    calls = from_configs(*configs)
    layers = calls["layers"]
    print(f"{'':>12}  {'per layer':>9}  {'x ' + str(len(layers)) + ' layers (' + ', '.join(map(str, layers)) + ')'}")
    for name, n in calls["per_layer"].items():
        print(f"{name:>12}  {n:>9}  {calls[name]}")
    return calls
