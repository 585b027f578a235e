"""`vibescope diff A B`: an LLM-written classifier prompt that tells dataset A from B."""

from __future__ import annotations

import argparse
import os

from vibescope.run import add_model_flags, named_path, apply_model_flags, materialize, metadata, reader, show, step


def add_diff(sub) -> None:
    p = sub.add_parser("diff", help="an LLM-written classifier prompt that tells dataset A from B",
                       description="Flags as the source tool's: vibescope diff a.csv b.csv "
                                   "--text-column answer --extra-prompt '...' --model NAME --output report/. "
                                   "A and B: csv, jsonl, json or parquet files (arena-hard-auto's model-answer "
                                   "JSONL too: the answer is read from its messages; Inspect AI .eval logs, paired by sample id), "
                                   "hf:<id>, or sample:<name>.")
    p.add_argument("a", help="dataset A")
    p.add_argument("b", help="dataset B")
    p.add_argument("--text-column", default="answer")
    p.add_argument("--text-column-b", default="", help="B's text column, if it differs")
    p.add_argument("--pair-key", default="", help="sort both by this column to pair rows")
    p.add_argument("--extra-prompt", default="")
    p.add_argument("--output", default="", help="report folder (default <reports>/diff/<time>)")
    p.add_argument("--batch_size", "--batch-size", type=int, default=16)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-rows", type=int, default=0, help="rows per side (0 = all)")
    p.add_argument("--max-unseen", type=int, default=0, help="unseen rows each loop prompt is tested on (0 = all)")
    p.add_argument("--test-fraction", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    add_model_flags(p)
    p.set_defaults(run=run_diff)


def run_diff(args: argparse.Namespace) -> str:
    a, b = named_path("diff", "A", args.a), named_path("diff", "B", args.b)
    apply_model_flags(args, ("describer", "classifier"))
    result = materialize(["diff"], {
        step("diff.rows"): {"a": a, "b": b,
                            "text_column": args.text_column,
                            "text_column_b": args.text_column_b, "pair_key": args.pair_key,
                            "max_rows": args.max_rows, "test_fraction": args.test_fraction, "seed": args.seed},
        step("diff.iterations"): {"batch_size": args.batch_size, "epochs": args.epochs,
                                  "extra_prompt": args.extra_prompt, "max_unseen_per_iteration": args.max_unseen},
        step("diff.report"): {"output_dir": os.path.abspath(args.output) if args.output else ""},
    })
    with reader() as con:
        show("what tells A from B: the classifier prompt's held-out accuracy per iteration, beside the baselines",
             con.sql("""
            SELECT stage, iteration, split, n, accuracy, accuracy_ci_low, accuracy_ci_high, binomial_p_value, auroc
            FROM diff.iteration_metrics ORDER BY stage, iteration, split""").df())
    folder = metadata(result, "diff.report", "folder")
    print(f"\nreport: {folder}; tables diff.*")
    return folder
