"""Is a step slow because of what it asks, or because of what runs beside it?

Replays the backend calls one step made in a run (read from the LLM call cache: the requests are
stored with their answers) straight to the backend in an idle process, and prints the mean latency per
call kind in the run beside the same calls alone. A ratio well above 1 means the run's neighbours
(other model steps, thread oversubscription) cost the step its speed.

    .venv/bin/python bench/step_alone.py diff_loop [--run-id ID] [--limit 60]
"""

import argparse
import json
import sqlite3
import statistics
import time

from resources.llm.backends import get_backend
from resources.llm.llamacpp_probe import cpu_model
from resources.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("asset", help="as in core.llm_calls.asset (an asset key or a multi-asset's op)")
    parser.add_argument("--run-id", help="default: the latest run that called this asset")
    parser.add_argument("--limit", type=int, default=60, help="calls replayed per kind")
    args = parser.parse_args()
    settings = load_settings()
    con = sqlite3.connect(f"file:{settings.path('cache')}?mode=ro", uri=True) if settings.path("cache").is_file() else None
    if con is None or not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'calls'").fetchone():
        raise SystemExit(f"no LLM call log at {settings.path('cache')}: materialize the step first")
    latest = con.execute("SELECT run_id FROM calls WHERE asset = ? ORDER BY call_id DESC LIMIT 1", (args.asset,)).fetchone()
    if latest is None:
        known = [a for (a,) in con.execute("SELECT DISTINCT asset FROM calls ORDER BY 1")]
        raise SystemExit(f"no LLM call of {args.asset!r} in {settings.path('cache')}; steps with calls: {', '.join(known)}")
    run_id = args.run_id or latest[0]
    rows = con.execute(
        """SELECT c.role, c.kind, c.latency_s, r.request FROM calls c JOIN responses r USING (request_hash)
           WHERE c.run_id = ? AND c.asset = ? AND c.cached = 0 AND c.error IS NULL ORDER BY c.call_id""",
        (run_id, args.asset)).fetchall()
    cpu = cpu_model()
    print(f"{args.asset} in run {run_id} ({cpu}): {len(rows)} backend calls")
    by_kind: dict[tuple[str, str], list] = {}
    for role, kind, latency, request in rows:
        by_kind.setdefault((role, kind), []).append((latency, json.loads(request)))
    for (role, kind), calls in sorted(by_kind.items()):
        backend = get_backend(settings.role(role), settings)  # the backend itself: no cache
        calls = calls[: args.limit]
        getattr(backend, kind)(calls[0][1])  # warm-up: model load, first-call allocations
        alone = []
        for _, request in calls:
            t0 = time.perf_counter()
            getattr(backend, kind)(request)
            alone.append(time.perf_counter() - t0)
        in_run = statistics.mean(latency for latency, _ in calls)
        print(f"  {role:10s} {kind:7s} n={len(calls):4d}  in the run {in_run:7.3f} s/call   "
              f"alone {statistics.mean(alone):7.3f} s/call   ratio {in_run / statistics.mean(alone):5.2f}")


if __name__ == "__main__":
    main()
