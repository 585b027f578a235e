"""`vibescope arena BATTLES` (arena behaviours of a user's battles), `vibescope arena plan` (its LLM
calls and their cost, before it runs) and `vibescope arena recovery`."""

from __future__ import annotations

import argparse

from vibescope.run import add_model_flags, named_path, apply_model_flags, materialize, metadata, reader, show, step


def add_arena(sub) -> None:
    p = sub.add_parser("arena", help="arena behaviours of your battles; `vibescope arena recovery` scores a "
                                     "fictional run", description=(
        "Battles: a csv, jsonl, json or parquet file with model_a, model_b, winner and either conversation_a/b "
        "(Chatbot Arena's) or prompt, response_a, response_b (or StringSight's model_a_response, "
        "model_b_response; winner as a side or the winning model's name), or a StringSight single-model file "
        "(prompt, model, model_response, reward); or hf:<id> where the network allows. Every battle is described "
        "unless --num-samples says otherwise. --properties reads a StringSight / LMM-Vibes properties file "
        "instead of running the describer."))
    p.add_argument("battles", help="the battles file (or hf:<id>)")
    arena_flags(p)
    add_model_flags(p)
    p.set_defaults(run=run_arena)


def arena_flags(p: argparse.ArgumentParser) -> None:
    """The run's flags, which `vibescope arena plan` takes too, so that it plans the run a user is about to start."""
    p.add_argument("--properties", default="", help="a StringSight / LMM-Vibes properties file (no describer calls)")
    p.add_argument("--behaviours", default="", help="a YAML or JSON file of behaviours (name, description, desirable) "
                                                     "the rubric scores on every battle, beside the discovered ones")
    p.add_argument("--no-discovery", action="store_true", help="with --behaviours: score those alone (no describer, "
                                                               "no clusters)")
    p.add_argument("--num-samples", type=int, default=0, help="battles described, sampled with --seed (0 = all)")
    p.add_argument("--models", nargs="*", default=[], help="keep battles between these models only")
    p.add_argument("--filter-english", action="store_true", help="keep prompts that are mostly ASCII letters")
    p.add_argument("--exclude-ties", action="store_true")
    p.add_argument("--seed", type=int, default=42)


def run_configs(args: argparse.Namespace, source: str) -> dict:
    """Each step's run config from the flags (files already checked)."""
    battles = {"dataset": source if not source.startswith("hf:") else "arena", "source": source,
               "filter_english": args.filter_english, "exclude_ties": args.exclude_ties, "models": args.models,
               "seed": args.seed}
    differences = ({"describer_source": "none"} if args.no_discovery else
                   {"describer_source": "file", "properties_path": args.properties} if args.properties else {})
    rubric = {"behaviours_path": args.behaviours, "discovered": not args.no_discovery} if args.behaviours else {}
    return {step("arena.battles"): {**battles, "num_samples": args.num_samples},
            step("arena.response_style"): battles,
            step("arena.battle_differences"): differences,
            step("arena.rubric_behaviours"): rubric}


def checked_files(args: argparse.Namespace, command: str) -> str:
    """The battles source, every file the flags name checked first, so that a mistake costs nothing."""
    from assets.arena.behaviours_file import read_behaviours

    source = named_path(command, "battles", args.battles)
    if args.properties:
        args.properties = named_path(command, "--properties", args.properties)
    if args.no_discovery and not args.behaviours:
        raise SystemExit(f"{command}: --no-discovery scores the behaviours of --behaviours FILE alone; give that file")
    if args.no_discovery and args.properties:
        raise SystemExit(f"{command}: --properties and --no-discovery: the properties would not be read; drop one")
    if args.behaviours:
        args.behaviours = named_path(command, "--behaviours", args.behaviours)
        try:
            read_behaviours(args.behaviours)
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
    return source


def run_arena(args: argparse.Namespace) -> None:
    source = checked_files(args, "arena")
    apply_model_flags(args, ("describer", "namer", "scorer"))
    result = materialize(["arena"], run_configs(args, source))
    with reader() as con:
        show("which model is better: Bradley-Terry ratings, without and with style control (95% bootstrap intervals)",
             con.sql("""SELECT model, rating, ci_low, ci_high, rank, style_rating, style_ci_low, style_ci_high,
                               style_rank, battles FROM arena.leaderboard LIMIT 10""").df())
        show("behaviours that go with winning (fine clusters; win rate when the model shows it vs not, Holm)",
             con.sql("""
            SELECT model, cluster_label AS behaviour, battles_with, proportion, proportion_others,
                   win_rate_with, win_rate_without, p_holm
            FROM arena.model_cluster_metrics WHERE level = 'fine'
            ORDER BY p_value NULLS LAST, model LIMIT 10""").df())
        show("measured behaviours (the rubric, both answer orders): log-odds of winning when a response shows it "
             "more, models held fixed, beside the describer's mentions; Holm; kappa of mention vs verdict",
             con.sql("""
            SELECT label AS behaviour, differing, coefficient, ci_low, ci_high, p_holm, mentioned_coefficient,
                   kappa, position_bias_rate FROM arena.behaviour_effects LIMIT 10""").df())
        show("style that goes with winning (no LLM)", con.sql("""
            SELECT model, feature, mean_value, mean_value_others, win_rate_with, win_rate_without, p_holm
            FROM arena.model_style_metrics ORDER BY p_value NULLS LAST, model LIMIT 10""").df())
    print(f"\nexports: {metadata(result, 'arena.exports', 'folder')}; tables arena.*")


def add_arena_plan(sub) -> None:
    p = sub.add_parser("arena-plan", help="`vibescope arena plan BATTLES [flags of vibescope arena]`: the LLM calls "
                                          "that run makes and what they cost, before it runs")
    p.add_argument("battles", help="the battles file the run reads")
    arena_flags(p)
    add_model_flags(p)
    p.set_defaults(run=run_arena_plan)


def run_arena_plan(args: argparse.Namespace) -> list[dict]:
    from analysis.llm_call_plan import arena_calls
    from assets.arena.battle_differences import MAX_CHARS
    from assets.arena.battles import load_battles
    from assets.arena.config import BattlesConfig, DifferencesConfig, RubricConfig, ScoresConfig
    from resources.datasets import Datasets
    from resources.settings import load_settings

    source = checked_files(args, "vibescope arena plan")
    apply_model_flags(args, ("describer", "scorer"))
    configs = run_configs(args, source)
    battles = load_battles(BattlesConfig(**configs[step("arena.battles")]), Datasets())
    chars = (battles.prompt.str.len().clip(upper=MAX_CHARS) + battles.response_a.str.len().clip(upper=MAX_CHARS)
             + battles.response_b.str.len().clip(upper=MAX_CHARS))
    differences = DifferencesConfig(**configs[step("arena.battle_differences")])
    rubric = RubricConfig(**configs[step("arena.rubric_behaviours")])
    settings = load_settings()
    roles = {name: settings.role(name) for name in ("describer", "scorer")}
    rows = arena_calls(len(battles), int(chars.sum()), describe=differences.describer_source == "llm",
                       behaviours=rubric.top_k * rubric.discovered, given=bool(rubric.behaviours_path),
                       max_tokens={"describer": DifferencesConfig().max_tokens, "scorer": ScoresConfig().max_tokens},
                       models={n: r.model for n, r in roles.items()},
                       prices={n: settings.prices.get(r.model) for n, r in roles.items()})
    print(f"{len(battles)} battles; upper bounds: each call's input is estimated at 4 characters a token, its output "
          f"at max_tokens")
    for r in rows:
        cost = f"{r['cost_usd']:.2f} USD" if r["cost_usd"] is not None else "no price in [prices]"
        print(f"{r['role']:<10} {r['model']:<24} {r['calls']:>7} calls  {r['input_tokens']:>10,} in  "
              f"{r['output_tokens']:>10,} out  {cost}")
    return rows


def add_arena_recovery(sub) -> None:
    p = sub.add_parser("arena-recovery", help="`vibescope arena recovery`: arena.planted_recovery of the latest "
                                              "fictional run")
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
