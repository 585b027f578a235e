"""`vibescope arena BATTLES` (arena behaviours of a user's battles) and `vibescope arena recovery`."""

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
    p.add_argument("--properties", default="", help="a StringSight / LMM-Vibes properties file (no describer calls)")
    p.add_argument("--num-samples", type=int, default=0, help="battles described, sampled with --seed (0 = all)")
    p.add_argument("--models", nargs="*", default=[], help="keep battles between these models only")
    p.add_argument("--filter-english", action="store_true", help="keep prompts that are mostly ASCII letters")
    p.add_argument("--exclude-ties", action="store_true")
    p.add_argument("--seed", type=int, default=42)
    add_model_flags(p)
    p.set_defaults(run=run_arena)


def run_arena(args: argparse.Namespace) -> None:
    source = named_path("arena", "battles", args.battles)
    properties = named_path("arena", "--properties", args.properties) if args.properties else ""
    apply_model_flags(args, ("describer", "namer"))
    battles = {"dataset": source if not source.startswith("hf:") else "arena", "source": source,
               "filter_english": args.filter_english, "exclude_ties": args.exclude_ties, "models": args.models,
               "seed": args.seed}
    differences = ({"describer_source": "file", "properties_path": properties}
                   if args.properties else {})
    result = materialize(["arena"], {
        step("arena.battles"): {**battles, "num_samples": args.num_samples},
        step("arena.response_style"): battles,
        step("arena.battle_differences"): differences,
    })
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
        show("style that goes with winning (no LLM)", con.sql("""
            SELECT model, feature, mean_value, mean_value_others, win_rate_with, win_rate_without, p_holm
            FROM arena.model_style_metrics ORDER BY p_value NULLS LAST, model LIMIT 10""").df())
    print(f"\nexports: {metadata(result, 'arena.exports', 'folder')}; tables arena.*")


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
