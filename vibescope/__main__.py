"""vibescope's one command line (`vibescope ...` once installed, or `python -m vibescope ...`).

    vibescope demo                 every asset on the bundled samples (the demo profile), then
                                   where the time went
    vibescope demo --select 'group:cje'
    vibescope arena BATTLES [--properties FILE] [--num-samples N]
    vibescope cje LOGGED [--fresh-draws DIR] [--probes DIR] [--identical POLICY ...]
    vibescope cje build --source PROMPTS [--max-samples N] [--target-models ...]
    vibescope diff A B [--text-column answer] [--extra-prompt "..."]
    vibescope acts TRACES [--text-column full_response] [--layer 12]
    vibescope acts plan [settings.toml]
    vibescope arena recovery
    vibescope run-report [RUN_ID]  the per-step table of a run (default: the latest)
    vibescope report --html PATH [--examples N]   the findings as one self-contained HTML file
    vibescope batch write arena/battle_differences | list | submit | status | ingest | run-locally

The analysis commands take --model, --backend, --base-url, --api-key-env: every role on one model.

`vibescope <command> --help` lists each command's flags (the source tools' flags where they had them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from resources import warehouse_cli
from resources.settings import PROFILE_ENV, PROJECT_ROOT
from vibescope import pipelines
from vibescope.run import add_verbose, console_logging, whole_groups_only
from resources.reader import open_reader
from resources.settings import load_settings
from vibescope.batches import add_batch
from vibescope.report import add_report
from vibescope.findings import NO_LLM_SELECTION, print_findings, print_rubric_check
from vibescope.run_report import latest_run_id, pipeline_of_steps, run_report
from vibescope.slots import release_dead_runs



def materialize(select: str) -> int:
    """`dg launch` in a child process: the run uses the instance in $DAGSTER_HOME (with its
    concurrency pools) and the multiprocess executor, as a run from the UI does."""
    dg_cli = Path(sys.executable).parent / "dg"
    command = [str(dg_cli), "launch", "--assets", select, "-m", "definitions", "--config-json",
               json.dumps(console_logging())]
    # the run config quiets the steps' loggers; the orchestrating process still writes its engine
    # events at DEBUG (a step worker started...): those stay in the run's log, off the terminal
    verbose = bool(os.environ.get("VIBESCOPE_VERBOSE"))
    with subprocess.Popen(command, env=os.environ, stderr=subprocess.PIPE, text=True, errors="replace") as child:
        for line in child.stderr:
            if verbose or " - dagster - DEBUG - " not in line:
                sys.stderr.write(line)
    return child.returncode


def report(run_id: str | None) -> int:
    import definitions  # the code location: which pipeline each step belongs to

    with dg.DagsterInstance.get() as instance:
        result = run_report(instance, run_id or latest_run_id(instance), pipeline_of_steps(definitions.defs))
    print(result.render())
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vibescope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialize assets, then print the per-step table and the tables written")
    demo.add_argument("--select", default="*", help="Dagster asset selection (default: every asset)")
    add_verbose(demo)
    runs = sub.add_parser("run-report", help="where a run's time went (default: the latest run)")
    runs.add_argument("run_id", nargs="?")
    sql = sub.add_parser("sql", help="one read-only query on the warehouse (sandboxed, row-capped)")
    sql.add_argument("query")
    sql.set_defaults(run=lambda a: warehouse_cli.main(["sql", a.query]))
    tables = sub.add_parser("tables", help="the warehouse's tables: layer, rows, when written")
    tables.set_defaults(run=lambda a: warehouse_cli.main(["summary"]))
    for add in (*pipelines.ADDERS, add_batch, add_report):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(pipelines.with_verbs(sys.argv[1:] if argv is None else argv))
    if getattr(args, "verbose", False):
        os.environ["VIBESCOPE_VERBOSE"] = "1"
    if args.command != "demo" and args.command != "run-report":
        args.run(args)  # in this process; run history in $DAGSTER_HOME when it is set
        return 0
    if args.command == "demo":
        whole_groups_only("vibescope demo")
        os.environ[PROFILE_ENV] = "demo"  # the bundled samples at the demo's sizes; no other run applies it
    # the Makefile's instance (with its concurrency pools), also when the command is run by hand
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home"))
    if args.command == "run-report":
        return report(args.run_id)
    with dg.DagsterInstance.get() as instance:
        for run_id in release_dead_runs(instance):
            print(f"run {run_id} was killed while it held a model slot: marked failed, slot freed")
    if args.select == "*":  # the findings that need no model first, then every step
        first = materialize(NO_LLM_SELECTION)
        if first == 0:
            print("\n== what the bundled data shows without an LLM ==")
            with open_reader(load_settings()) as con:
                print_findings(con)
            print("\n== now every step, the LLM ones on the embedded model (its outputs prove the machinery, "
                  "they are not findings) ==")
    with dg.DagsterInstance.get() as instance:
        previous = [r.run_id for r in instance.get_runs(limit=1)]
    started = time.monotonic()
    code = materialize(args.select)
    with dg.DagsterInstance.get() as instance:
        latest = [r.run_id for r in instance.get_runs(limit=1)]
    if latest == previous:  # the code location did not load, or the selection matched nothing
        print(f"\nno run was started (exit {code}): see the error above")
        return code or 1
    print(f"\n== where the time went ({(time.monotonic() - started) / 60:.1f} min of materialization) ==")
    status = report(latest[0])
    if status == 0 and code == 0:
        print("\n== tables written ==")
        warehouse_cli.main(["summary"])
        with open_reader(load_settings()) as con:
            print_rubric_check(con)
    return status or code


if __name__ == "__main__":
    sys.exit(main())
