"""`vibescope cje LOGGED` (the analysis of logs a user has) and `vibescope cje build` (logs built
with real policies, then analysed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from assets.cje.config import HEADLINES
from vibescope.run import add_model_flags, named_path, add_verbose, apply_model_flags, materialize, metadata, run_folder, step


def add_cje(sub) -> None:
    p = sub.add_parser("cje", help="the CJE analysis of your logged data (cje-eval's JSONL); `vibescope cje build` "
                                   "builds such logs with real policies", description=(
        "Off-policy and direct estimates of each target policy's value on the oracle's scale, from cje-eval's "
        "logged-data JSONL (prompt_id, prompt, response, base_policy_logprob, target_policy_logprobs, "
        "judge_score, oracle_label on some rows). Every oracle label present calibrates the judge unless "
        "--oracle-fraction holds some out. The headline estimator is DR where fresh draws are given, else "
        "calibrated IPS; an estimate the data cannot carry is withheld with its reason."))
    p.add_argument("logged", help="cje-eval logged-data JSONL")
    p.add_argument("--fresh-draws", default="", help="folder of <policy>_responses.jsonl (enables dr and direct)")
    p.add_argument("--probes", default="", help="folder of <policy>_probe.jsonl: oracle-labelled draws per policy")
    p.add_argument("--identical", nargs="*", default=None, metavar="POLICY",
                   help="target policies identical to the base (weights must be 1); default: one named clone")
    p.add_argument("--oracle-fraction", type=float, default=1.0,
                   help="share of logged rows whose label calibration may use (default 1: every label)")
    p.add_argument("--estimator", default="auto", choices=HEADLINES, help="the headline estimator")
    p.add_argument("--delta-max", type=float, default=0.0, metavar="MARGIN",
                   help="grade each target's probes (--probes) against this margin on the reward scale: the "
                        "largest mean residual for its calibration to count as transporting (default: none, "
                        "NOT_GRADED)")
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    add_verbose(p)
    p.set_defaults(run=run_cje)


def run_cje(args: argparse.Namespace) -> Path:
    if not args.delta_max >= 0:
        raise SystemExit(f"--delta-max is a margin on the reward scale, 0 or above, got {args.delta_max:g}")
    folder = run_folder("cje")
    logged = {"source": "files", "logged_data": named_path("cje", "logged data", args.logged),
              "oracle_fraction": args.oracle_fraction, "seed": args.seed,
              "fresh_draws_dir": named_path("cje", "--fresh-draws", args.fresh_draws, folder=True) if args.fresh_draws else "",
              "probe_dir": named_path("cje", "--probes", args.probes, folder=True) if args.probes else ""}
    if args.identical is not None:
        logged["identical_policies"] = args.identical
    result = materialize(["cje"], {
        step("cje.logged_data"): logged,
        step("cje.calibrated_rewards"): {"n_folds": args.n_folds},
        step("cje.transport_audits"): {"delta_max": args.delta_max},
        step("cje.decision"): {"estimator": args.estimator},
        step("cje.report"): {"run_folder": str(folder)},
    })
    print(metadata(result, "cje.report", "results"))
    print(f"run folder: {folder} (and {folder}.zip); tables cje.* (vibescope sql '...', or the app's CJE page)")
    return folder


def add_cje_build(sub) -> None:
    p = sub.add_parser("cje-build", help="`vibescope cje build`: build CJE logs with real policies and analyse "
                                         "them in one run (the source tool's run_arena_analysis.py)", description=(
        "Policies are roles policy.<name> in dagster_project.toml; a --target-models name that is not a role is a "
        "model run on the base's backend with the base's prompt and sampling (with an OpenAI key and roles on "
        "backend openai: --base-model gpt-4o-mini --target-models gpt-4o gpt-4.1-nano). --proxy-model is the "
        "judge's model, --oracle-model the oracle's. The logs land in cje_logs.*, the analysis in cje.*, and the "
        "run folder <reports>/cje/<time>/ (and its zip) holds the phase-1 files, cje-eval's files and the results."))
    p.add_argument("--source", required=True, help="the prompts: a file with a prompt column, hf:<id>, or sample:arena")
    p.add_argument("--prompt-column", default="prompt")
    p.add_argument("--max-samples", type=int, default=0, help="prompts sampled (0 = all)")
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
    p.add_argument("--identical", nargs="+", default=[], metavar="TARGET",
                   help="targets declared identical to the base: their weights must be exactly 1, or the run stops")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--logs-dir", default="", help="where the built logs are written (default: the run folder)")
    add_model_flags(p)
    p.set_defaults(run=run_cje_build)


def run_cje_build(args: argparse.Namespace) -> Path:
    if not 0 < args.oracle_fraction <= 1:
        raise SystemExit(f"--oracle-fraction must be in (0, 1], got {args.oracle_fraction}")
    targets = [t for names in args.target_models for t in names.split(",") if t]  # "a,b" as before
    apply_model_flags(args, ("judge", "oracle", f"policy.{args.base_policy}",
                             *(f"policy.{t}" for t in targets if f"policy.{t}" in _roles())))
    folder = run_folder("cje")
    logs = Path(args.logs_dir).resolve() if args.logs_dir else folder
    result = materialize(["cje_logs", "cje"], {
        step("cje_logs.prompts"): {"source": args.source, "prompt_column": args.prompt_column,
                                   "max_samples": args.max_samples, "seed": args.seed},
        step("cje_logs.responses"): {"base_policy": args.base_policy, "base_model": args.base_model,
                                     "target_policies": targets, "temperature": args.temperature, "top_p": args.top_p,
                                     "identical_policies": args.identical},
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


def _roles() -> set[str]:
    from resources.settings import load_settings

    return set(load_settings().roles)


def add_cje_plan(sub) -> None:
    p = sub.add_parser("cje-plan", help="`vibescope cje plan`: how many judge-scored rows and oracle labels a study "
                                        "needs, from the last CJE run as a pilot", description=(
        "Reads cje.variance_model (the last `vibescope cje` run's SEs split into evaluation and calibration "
        "variance) and sizes a study by the CJE paper's square-root allocation: the cheapest (rows, labels) "
        "for a target SE (--se) or minimum detectable difference between two policies (--mde), or the best "
        "plan a --budget buys. Costs are per judge-scored row and per oracle label, in any one unit."))
    goal = p.add_mutually_exclusive_group(required=True)
    goal.add_argument("--se", type=float, help="the SE wanted on each policy's value")
    goal.add_argument("--mde", type=float, help="the smallest difference between two policies to detect")
    goal.add_argument("--budget", type=float, help="what the study may cost")
    p.add_argument("--surrogate-cost", type=float, default=1.0, help="cost of one judge-scored row (default 1)")
    p.add_argument("--oracle-cost", type=float, default=16.0, help="cost of one oracle label (default 16)")
    p.add_argument("--estimator", default="", help="the pilot's estimator to plan on (default: the decision's headline)")
    p.add_argument("--policy", default="", help="the policy whose variance to plan on (default: the largest)")
    p.add_argument("--min-labels", type=int, default=30, help="never fewer oracle labels (default 30)")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--power", type=float, default=0.8)
    p.set_defaults(run=run_cje_plan)


def run_cje_plan(args: argparse.Namespace) -> None:
    from analysis import cje_planning
    from resources.reader import open_reader
    from resources.settings import load_settings

    for flag in ("se", "mde", "budget", "surrogate_cost", "oracle_cost", "min_labels"):
        value = getattr(args, flag)
        if value is not None and not value > 0:
            raise SystemExit(f"--{flag.replace('_', '-')} must be above 0, got {value:g}")
    if not 0 < args.alpha < 1 or not 0 < args.power < 1:
        raise SystemExit(f"--alpha and --power must be in (0, 1), got {args.alpha:g} and {args.power:g}")

    no_pilot = "no pilot: run `vibescope cje LOGGED ...` first (cje.variance_model is made from its SEs)"
    try:
        con = open_reader(load_settings())
    except FileNotFoundError:  # no warehouse yet
        raise SystemExit(no_pilot) from None
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    with con:
        tables = {t for (t,) in con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall()}
        if not {"cje.variance_model", "cje.decision"} <= tables:
            raise SystemExit(no_pilot)
        estimator = args.estimator or con.execute("SELECT estimator FROM cje.decision").fetchone()[0]
        model = con.execute("SELECT * FROM cje.variance_model WHERE estimator = ?", [estimator]).df()
    if args.policy:
        model = model[model.policy == args.policy]
    if model.empty:
        raise SystemExit(f"cje.variance_model has no {estimator} estimate" + (f" of {args.policy}" if args.policy else "")
                         + ": choose --estimator or --policy among its rows")
    row = model.loc[(model.sigma2_eval / model.n + model.sigma2_cal / model.m).idxmax()]
    costs = dict(s2_eval=row.sigma2_eval, s2_cal=row.sigma2_cal, c_s=args.surrogate_cost, c_y=args.oracle_cost,
                 m_min=args.min_labels, alpha=args.alpha, power=args.power)
    try:
        plan = (cje_planning.for_se(args.se, **costs) if args.se else cje_planning.for_mde(args.mde, **costs)
                if args.mde else cje_planning.for_budget(args.budget, **costs))
    except ValueError as exc:
        raise SystemExit(f"no plan: {exc}") from None
    print(f"pilot: {row.policy} by {estimator}, n {row.n:,} rows, m {row.m:,} labels, SE {row.pilot_se:.4f} "
          f"(sigma2_eval {row.sigma2_eval:.4g}, sigma2_cal {row.sigma2_cal:.4g})")
    print(f"plan: {plan.n:,} judge-scored rows per policy and {plan.m:,} oracle labels, cost {plan.cost:,.2f}: "
          f"SE {plan.se:.4f}, detects a difference of {plan.mde:.4f} between two policies "
          f"(alpha {args.alpha:g}, power {args.power:g})")
