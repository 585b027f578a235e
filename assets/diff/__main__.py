"""Command line of the dataset-difference pipeline (flags as the source tool's):

    python -m assets.diff a.csv b.csv --text-column answer --extra-prompt "..." --model NAME \\
        --output report/ --batch_size 16 --epochs 1

It materializes the `diff` assets through Dagster (run history in $DAGSTER_HOME when set), so the
results land in the warehouse too, and prints the metrics.
"""

import argparse
import os

import dagster as dg


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m assets.diff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="dataset A: csv, jsonl, json or parquet path (or sample:<name>)")
    parser.add_argument("b", help="dataset B")
    parser.add_argument("--text-column", default="answer")
    parser.add_argument("--text-column-b", default="", help="B's text column, if it differs")
    parser.add_argument("--pair-key", default="", help="sort both by this column to pair rows")
    parser.add_argument("--extra-prompt", default="")
    parser.add_argument("--model", default="", help="model for the describer and classifier roles")
    parser.add_argument("--output", default="", help="report folder (default <reports>/diff/<time>)")
    parser.add_argument("--batch_size", "--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-rows", type=int, default=0, help="rows per side (0 = all)")
    parser.add_argument("--test-fraction", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import definitions

    selection = dg.AssetSelection.groups("diff")
    run_config = {"ops": {
        "diff__rows": {"config": {"a": args.a, "b": args.b, "text_column": args.text_column,
                                  "text_column_b": args.text_column_b, "pair_key": args.pair_key,
                                  "max_rows": args.max_rows, "test_fraction": args.test_fraction,
                                  "seed": args.seed}},
        "diff_loop": {"config": {"batch_size": args.batch_size, "epochs": args.epochs,
                                 "extra_prompt": args.extra_prompt, "model": args.model}},
        "diff__report": {"config": {"output_dir": os.path.abspath(args.output) if args.output else ""}},
    }}
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    result = dg.materialize(
        [*definitions.defs.assets, *definitions.defs.asset_checks],
        resources=definitions.defs.resources, selection=selection, run_config=run_config,
        instance=instance, raise_on_error=False,
    )
    if not result.success:
        raise SystemExit("the diff run failed: see the log above")
    from resources.warehouse import Warehouse

    metrics = Warehouse().query("""
        SELECT stage, iteration, split, n, n_abstained, accuracy, accuracy_ci_low, accuracy_ci_high,
               binomial_p_value, auroc, brier FROM diff.iteration_metrics ORDER BY stage, iteration, split""")
    print(metrics.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    folder = result.asset_materializations_for_node("diff__report")[0].metadata["folder"].value
    print(f"\nreport: {folder}")


if __name__ == "__main__":
    main()
