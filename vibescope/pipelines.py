"""The pipelines' commands: each materializes its Dagster assets in this process (history in
$DAGSTER_HOME), on the input a user names, and prints its headline table and where the rest is.

    vibescope arena BATTLES [--properties FILE] [--num-samples N]   arena behaviours
    vibescope cje LOGGED [--fresh-draws DIR] [--probes DIR]           the CJE analysis of logs you have
    vibescope cje build [--max-samples N] [--target-models ...]       build such logs with real policies
    vibescope diff A B                                                what tells dataset A from B
    vibescope acts TRACES                                             activation clusters of reasoning traces

Every one takes --model, --backend, --base-url and --api-key-env, which put every role on one model
for the run (a role that names its own model in dagster_project.toml keeps it). A run reads the
whole input it is given and no bundled sample: `vibescope demo` is the run on those.
"""

from __future__ import annotations

from vibescope import acts, arena, cje, diff

# `vibescope cje build`, `acts plan`, `arena recovery`: a verb where the others take a file
VERBS = {("cje", "build"): "cje-build", ("cje", "plan"): "cje-plan", ("acts", "plan"): "acts-plan", ("arena", "recovery"): "arena-recovery",
         ("arena", "plan"): "arena-plan"}
ADDERS = (arena.add_arena, arena.add_arena_plan, arena.add_arena_recovery, cje.add_cje, cje.add_cje_build, cje.add_cje_plan, diff.add_diff, acts.add_acts,
          acts.add_acts_plan)


def with_verbs(argv: list[str]) -> list[str]:
    return [VERBS[tuple(argv[:2])], *argv[2:]] if tuple(argv[:2]) in VERBS else argv
