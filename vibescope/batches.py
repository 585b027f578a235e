"""`vibescope batch ...`: the Batch API lifecycle of the assets that can batch their LLM calls
(resources/llm/batch.py says what each step does to the files).

    vibescope batch write arena/battle_differences   materialize it with batches: true (writes its file)
    vibescope batch list                              every batch file with its counts
    vibescope batch submit [FILE ...]                 default: every file
    vibescope batch status [FILE ...]
    vibescope batch ingest [FILE ...]
    vibescope batch run-locally [FILE ...]            on the role's own backend (llamacpp, vllm)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import dagster as dg

BATCHING_ASSETS = ("arena/battle_differences", "arena/behaviour_scores", "acts/cluster_titles", "acts/grades")


def add_batch(sub) -> None:
    p = sub.add_parser("batch", help="write, submit, check, ingest or run locally the assets' Batch API files",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", required=True)
    write = verbs.add_parser("write", help="materialize an asset with batches: true, which writes its file")
    write.add_argument("asset", choices=BATCHING_ASSETS)
    write.add_argument("--config", default="{}", help="more of the step's run config, as JSON")
    verbs.add_parser("list", help="every batch file: asset, role, model and counts (no provider call)")
    for verb, text in (("submit", "send the requests not yet answered nor in flight"),
                       ("status", "counts and each batch's state at the provider"),
                       ("ingest", "bring finished batches' answers and failures in"),
                       ("run-locally", "answer the pending requests on the role's own backend")):
        one = verbs.add_parser(verb, help=text)
        one.add_argument("files", nargs="*", help="batch files (names in the batch folder, or paths); default: all")
    p.set_defaults(run=run_batch_command)


def _files(folder: Path, names: list[str]) -> list[Path]:
    if not names:
        return sorted(p for p in folder.glob("*.jsonl") if ".submit-" not in p.name)
    paths = [Path(n) if Path(n).exists() else folder / n for n in names]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise SystemExit(f"no such batch file: {', '.join(missing)} (vibescope batch list shows them)")
    return paths


def _client(llm, path: Path):
    from resources.llm import batch

    meta = json.loads(batch.meta_path(path).read_text())
    client = llm.client(meta["role"], model=meta["model"])
    client.asset = meta["asset"]  # the call log names the asset the answers are for
    return client


def _write(llm, args: argparse.Namespace) -> None:
    import definitions
    from vibescope.run import step

    config = {**json.loads(args.config), "batches": True}
    op = step(args.asset.replace("/", "."))
    result = dg.materialize([*definitions.defs.assets], resources=definitions.defs.resources,
                            selection=dg.AssetSelection.assets(dg.AssetKey(args.asset.split("/"))),
                            run_config={"ops": {op: {"config": config}}},
                            instance=dg.DagsterInstance.get() if _has_instance() else None, raise_on_error=False)
    stem = args.asset.replace("/", ".") + "__"
    written = [p for p in _files(llm.batches_folder, []) if p.name.startswith(stem)]
    if not written:
        raise SystemExit(f"{args.asset} wrote no batch file: see the log above")
    for path in written:
        print(f"{path.name}: {_counts_line(llm, path)}")
    print("the asset completed: every answer is in" if result.success else
          "the asset stops until its requests are answered: submit (or run-locally), ingest, materialize again")


def _has_instance() -> bool:
    return bool(os.environ.get("DAGSTER_HOME"))


def _counts_line(llm, path: Path) -> str:
    from resources.llm import batch

    meta = json.loads(batch.meta_path(path).read_text())
    return ", ".join(f"{k} {v}" for k, v in batch.tally(llm.cache, meta).items())


def run_batch_command(args: argparse.Namespace) -> None:
    from resources.llm import LLM, batch

    llm = LLM()
    if args.verb == "write":
        return _write(llm, args)
    paths = _files(llm.batches_folder, getattr(args, "files", []))
    if not paths:
        print(f"no batch files in {llm.batches_folder}")
        return
    for path in paths:
        if args.verb == "list":
            meta = json.loads(batch.meta_path(path).read_text())
            print(f"{path.name}\tasset {meta['asset']}, role {meta['role']}, {meta['backend']}:{meta['model']}, "
                  f"{len(meta['submissions'])} submission(s)\n\t{_counts_line(llm, path)}")
            continue
        client = _client(llm, path)
        if args.verb == "submit":
            batch_id = batch.submit(client, path)
            print(f"{path.name}: " + (f"submitted as {batch_id}" if batch_id else "nothing to submit"))
        elif args.verb == "status":
            state = batch.status(client, path)
            print(f"{path.name}: " + ", ".join(f"{k} {v}" for k, v in state.items() if k != "batches"))
            for row in state["batches"]:
                print(f"\tsubmission {row['n']} {row['batch_id']}: {row['requests']} requests, {row['state']}"
                      + (", ingested" if row["ingested"] else "")
                      + (f", provider counts {row['provider_counts']}" if "provider_counts" in row else ""))
        elif args.verb == "ingest":
            print(f"{path.name}: " + ", ".join(f"{k} {v}" for k, v in batch.ingest(client, path).items()))
        else:
            print(f"{path.name}: " + ", ".join(f"{k} {v}" for k, v in batch.run_locally(client, path).items()))
