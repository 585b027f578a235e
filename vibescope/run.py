"""What every analysis command shares: run config by step name, one model for every role, an
in-process materialization of whole groups, and the headline tables' printing.

Names follow one rule from the table a step writes: table `schema.table` is made by
`assets/<schema>/<table>.py`, its step (op, and run-config key) is `schema__table`.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import dagster as dg

from resources.settings import LLM_ENV


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


# --- one model for every role ----------------------------------------------------------------
def add_model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model", "put every role on one model for this run (a role that names its own "
                                      "model in dagster_project.toml keeps it)")
    g.add_argument("--model", default="", help="the model name (the server's name for it, or a .gguf path)")
    g.add_argument("--backend", default="", choices=["", "llamacpp", "openai", "anthropic", "vllm"],
                   help="default: openai when --base-url is given, else the settings' [llm] backend")
    g.add_argument("--base-url", default="", help="an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--api-key-env", default="", help="the variable holding that server's key")
    add_verbose(p)


def apply_model_flags(args: argparse.Namespace, roles: tuple[str, ...]) -> None:
    """The flags as $VIBESCOPE_BACKEND & co (so every step process sees them), then a line per
    role this command uses: which backend and model it runs on."""
    from resources.settings import load_settings

    backend = args.backend or ("openai" if args.base_url else "")
    for key, value in (("backend", backend), ("model", args.model), ("base_url", args.base_url),
                       ("api_key_env", args.api_key_env)):
        if value:
            os.environ[LLM_ENV[key]] = value
    settings = load_settings()
    for name in roles:
        role = settings.role(name)
        where = f" at {role.base_url}" if role.base_url else ""
        print(f"role {name:<11} {role.backend}: {role.model}{where}")


def named_path(command: str, what: str, path: str, folder: bool = False) -> str:
    """The absolute path of an input a user named, or one line saying it is not there (a dataset id,
    hf:<id> or sample:<name>, is passed on as it is)."""
    if path.startswith(("hf:", "sample:")):
        return path
    there = os.path.isdir(path) if folder else os.path.isfile(path)
    if not there:
        raise SystemExit(f"vibescope {command}: {what} {path}: no such {'folder' if folder else 'file'}")
    return os.path.abspath(path)


def root_cause(error) -> str:
    """A step failure in one line: the innermost error's first line, its module path dropped
    (`DatasetError: a.csv: no column 'answer'`), not Dagster's wrapper around it."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    first = str(error.message).strip().splitlines()[0] if str(error.message).strip() else repr(error)
    return re.sub(r"^(?:\w+\.)+(\w+: )", r"\1", first)


def add_verbose(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", action="store_true",
                   help="every Dagster event on the terminal (default: progress and warnings; every event is "
                        "in the run's log all the same: vibescope run-report, or the Dagster UI)")


def console_logging() -> dict:
    """The run config that keeps Dagster's DEBUG event lines (a step started, an output yielded...) off
    the terminal: progress (INFO) and warnings stay, and every event stays in the run's event log."""
    level = "DEBUG" if os.environ.get("VIBESCOPE_VERBOSE") else "INFO"
    return {"loggers": {"console": {"config": {"log_level": level}}}}


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
        run_config={"ops": {name: {"config": config} for name, config in ops.items()}, **console_logging()},
        instance=instance, raise_on_error=False)
    if instance is not None:
        print(f"run {result.run_id}: every event in `vibescope run-report {result.run_id}` and the Dagster UI (make ui)")
    if not result.success:
        failed = [f"FAILED {e.step_key}: {root_cause(e.event_specific_data.error)}" for e in result.get_step_failure_events()]
        raise SystemExit("\n".join([*failed, f"the {' + '.join(groups)} run failed"]))
    return result


def metadata(result: dg.ExecuteInProcessResult, table: str, key: str):
    return result.asset_materializations_for_node(step(table))[0].metadata[key].value


def show(title: str, frame) -> None:
    print(f"\n== {title} ==")
    print(frame.to_string(index=False, float_format=lambda x: f"{x:.3f}") if len(frame) else "(no rows)")


def reader():
    from resources.reader import open_reader
    from resources.settings import load_settings

    return open_reader(load_settings())


def run_folder(pipeline: str) -> Path:
    from datetime import datetime, timezone

    from resources.settings import load_settings

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return (load_settings().path("reports") / pipeline / stamp).resolve()
