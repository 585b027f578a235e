"""The arena pipeline's warehouse work at a million fictional battles, on each warehouse kind.

No LLM and no embedding: the fictional dataset's planted properties stand in for the describer,
and its ground truth for the clusters, so what is timed is the warehouse and the SQL.

  battles      `arena/battles` (fictional, N) and `arena/response_style` (the style features of
               the same battles), real assets through `dg.materialize`
  differences  `arena/battle_differences`, describer_source planted: one step, or P partitions
               (hash buckets of battle_id) run by W worker processes at once
  sql          the SQL models behavior_properties, clustered_properties, behaviour_presence,
               presence_metrics, model_cluster_metrics and model_style_metrics, from sql/arena/;
               prompt_categories, property_clusters and cluster_labels are written from the
               planted truth (a prompt's category = its model pair; a property's fine cluster =
               its phrasing, coarse = its behaviour) where the real assets would embed
  exports      the four tables of `arena/exports` COPYed to Parquet by a reader

Kinds: duckdb (one file + the published snapshot), ducklake-sqlite (one machine), and
ducklake-postgres (a PostgreSQL server started on 127.0.0.1, where Debian's package is installed).
Each configuration runs in a child process (peak memory is its own) while a reader process opens
the warehouse and counts core.materializations every 0.25 s, timing each open + query: the first
(on DuckLake it loads the extensions and attaches, once per process), the median and the slowest
of the rest. For the file kind, the time spent copying the snapshot is reported beside.

    .venv/bin/python bench/warehouse_scale.py [--battles 1000000] [--partitions 16] [--workers 2]
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SQL_FIRST = ["arena/behavior_properties"]
SQL_REST = ["arena/clustered_properties", "arena/behaviour_presence", "arena/presence_metrics",
            "arena/model_cluster_metrics", "arena/model_style_metrics"]
EXPORTS = ["battle_differences", "clustered_properties", "cluster_labels", "model_cluster_metrics"]
CATEGORIES = {"arena.prompt_categories": """
    SELECT battle_id, least(model_a, model_b) AS broad_category, model_a || ' vs ' || model_b AS narrower_category
    FROM arena.battles"""}
PLANTED = {
    "arena.property_clusters": """
        SELECT property_id, battle_id, model,
               dense_rank() OVER (ORDER BY property_description) - 1 AS fine_cluster_id,
               dense_rank() OVER (ORDER BY category) - 1 AS coarse_cluster_id,
               false AS was_outlier, 0.0 AS x, 0.0 AS y
        FROM arena.behavior_properties""",
    "arena.cluster_labels": """
        SELECT DISTINCT 'fine' AS level, fine_cluster_id AS cluster_id, property_description AS name,
               'planted' AS named_by, property_description AS keywords
        FROM arena.property_clusters JOIN arena.behavior_properties USING (property_id)
        UNION ALL
        SELECT DISTINCT 'coarse', coarse_cluster_id, category, 'planted', category
        FROM arena.property_clusters JOIN arena.behavior_properties USING (property_id)""",
}


def settings_text(folder: Path, kind: str, catalog: str, partitions: int) -> str:
    text = (ROOT / "dagster_project.toml").read_text()
    replace = {'kind = "duckdb"': f'kind = "{kind}"', 'catalog = "data/lake_catalog.sqlite"': f'catalog = "{catalog}"',
               'data_path = "data/lake"': f'data_path = "{folder}/lake"', "partitions = 0": f"partitions = {partitions}"}
    for key in ("warehouse", "snapshot", "reports", "cache", "embedding_cache", "models"):
        replace[f'\n{key} = "'] = f'\n{key} = "{folder}/'
    for old, new in replace.items():
        text = text.replace(old, new, 1)
    return text


def materialize(selection: list[str], config: dict, partition: str | None = None) -> None:
    import dagster as dg

    import definitions

    result = dg.materialize(definitions.defs.assets, resources=definitions.defs.resources, selection=selection,
                            run_config={"ops": config}, partition_key=partition, raise_on_error=True)
    assert result.success


def differences_partition(key: str) -> None:
    materialize(["arena/battle_differences"], {"arena__battle_differences": {"config": {"describer_source": "planted"}}},
                key)


def one(folder: Path, battles: int, partitions: int, workers: int) -> dict:
    """One configuration, in this (child) process: the stages' seconds and what they left."""
    import resource
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from resources.warehouse import Warehouse

    copied = []
    publish = Warehouse._publish_snapshot

    def timed_publish(self, db):
        start = time.perf_counter()
        publish(self, db)
        copied.append(time.perf_counter() - start)
    Warehouse._publish_snapshot = timed_publish  # the bench's own measurement of the snapshot copies

    warehouse = Warehouse()
    stages, start = {}, time.perf_counter()
    source = {"dataset": "fictional", "num_samples": battles, "filter_english": False}
    materialize(["arena/battles", "arena/response_style", "arena/source_battles"],
                {"arena__battles": {"config": source}, "arena__response_style": {"config": source}})
    stages["battles"] = time.perf_counter() - start
    mark = time.perf_counter()
    if partitions:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            list(pool.map(differences_partition, _keys(partitions)))
    else:
        differences_partition(None)
    stages["differences"] = time.perf_counter() - mark
    mark = time.perf_counter()
    warehouse.create_table_as(*next(iter(CATEGORIES.items())))
    materialize(SQL_FIRST, {})
    for name, sql in PLANTED.items():
        warehouse.create_table_as(name, sql)
    materialize(SQL_REST, {})
    stages["sql"] = time.perf_counter() - mark
    mark = time.perf_counter()
    out = folder / "exports"
    out.mkdir(exist_ok=True)
    for table in EXPORTS:
        warehouse.copy_to(f"SELECT * FROM arena.{table}", out / f"{table}.parquet", "FORMAT PARQUET")
    stages["exports"] = time.perf_counter() - mark
    properties = int(warehouse.query("SELECT count(*) FROM arena.behavior_properties").iloc[0, 0])
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"stages": stages, "wall": time.perf_counter() - start, "peak_gib": max(self_rss, child_rss) / 2**20,
            "snapshot_copies": len(copied), "snapshot_copy_s": sum(copied), "properties": properties}


def _keys(n: int) -> list[str]:
    """The stage's partition keys, as the code location defines them from the settings."""
    import dagster as dg

    import definitions

    keys = definitions.defs.resolve_assets_def(dg.AssetKey(["arena", "battle_differences"])).partitions_def
    assert len(keys.get_partition_keys()) == n
    return keys.get_partition_keys()


def reader_loop(stop: Path, out: Path) -> None:
    """Open the warehouse and read, again and again, until `stop` exists; write the latencies."""
    from resources.reader import open_reader
    from resources.settings import load_settings

    settings, waits, failures = load_settings(), [], 0
    while not stop.exists():
        start = time.perf_counter()
        try:
            with open_reader(settings) as con:
                con.execute("SELECT count(*) FROM core.materializations").fetchone()
            waits.append(time.perf_counter() - start)
        except Exception:  # noqa: BLE001 - no warehouse yet at the start; counted
            failures += 1
        time.sleep(0.25)
    # the first read opens the process's lake instance (extensions, attach): reported apart
    later = sorted(waits[1:]) or [0.0]
    out.write_text(json.dumps({"reads": len(waits), "failed_opens": failures, "first_s": waits[0] if waits else 0.0,
                               "max_s": later[-1], "median_s": later[len(later) // 2]}))


def size_of(folder: Path, catalog: str) -> float:
    """The warehouse's bytes: the file and its snapshot, or the lake's files and its catalog."""
    files = [p for p in folder.rglob("*") if p.is_file() and "exports" not in p.parts and "reports" not in p.parts
             and not p.name.endswith("cache.sqlite")]
    total = sum(p.stat().st_size for p in files)
    if catalog.startswith("postgres:"):
        import duckdb

        from resources.lake import extension_file
        con = duckdb.connect()
        con.execute(f"LOAD '{extension_file('postgres_scanner')}'")
        con.execute(f"ATTACH '{catalog.removeprefix('postgres:')}' AS pg (TYPE postgres, READ_ONLY)")
        total += con.execute("SELECT * FROM postgres_query('pg', 'SELECT pg_database_size(current_database())')").fetchone()[0]
    return total / 2**30


def run_configuration(label: str, kind: str, catalog: str, battles: int, partitions: int, workers: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"vibescope-bench-{label}-"))
    catalog = catalog.replace("{folder}", str(folder))
    settings = folder / "dagster_project.toml"
    settings.write_text(settings_text(folder, kind, catalog, partitions))
    env = {**os.environ, "VIBESCOPE_SETTINGS": str(settings), "HF_HUB_OFFLINE": "1"}
    env.pop("DAGSTER_HOME", None)
    stop, waits = folder / "stop", folder / "reader.json"
    reader = subprocess.Popen([sys.executable, __file__, "--reader", str(stop), str(waits)], env=env, cwd=ROOT)
    child = subprocess.run([sys.executable, __file__, "--one", str(folder), str(battles), str(partitions), str(workers)],
                           env=env, cwd=ROOT, capture_output=True, text=True)
    stop.touch()
    reader.wait()
    if child.returncode:
        raise SystemExit(f"{label}: {child.stderr[-3000:]}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result.update(label=label, reader=json.loads(waits.read_text()),
                  size_gib=size_of(folder, catalog))
    subprocess.run(["rm", "-rf", str(folder)])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kinds", default="duckdb,ducklake-sqlite,ducklake-postgres",
                        help="which of duckdb, ducklake-sqlite, ducklake-postgres (where PostgreSQL is installed)")
    parser.add_argument("--one", nargs=4)
    parser.add_argument("--reader", nargs=2)
    args = parser.parse_args()
    if args.one:
        folder, battles, partitions, workers = args.one
        print(json.dumps(one(Path(folder), int(battles), int(partitions), int(workers))))
        return
    if args.reader:
        reader_loop(Path(args.reader[0]), Path(args.reader[1]))
        return
    from tests.helpers.postgres import postgres_bin, postgres_server
    from tests.conftest import free_port

    wanted = args.kinds.split(",")
    kinds = [k for k in [("duckdb", "duckdb", "data/lake_catalog.sqlite"),
                         ("ducklake-sqlite", "ducklake", "{folder}/catalog.sqlite")] if k[0] in wanted]
    results = []
    with postgres_server(free_port()) if postgres_bin() and "ducklake-postgres" in wanted else nullcontext() as dsn:
        if dsn:
            kinds.append(("ducklake-postgres", "ducklake", f"postgres:{dsn}"))
        for label, kind, catalog in kinds:
            for partitions in sorted({0, args.partitions}):  # --partitions 0: the unpartitioned runs only
                if dsn and catalog.startswith("postgres:"):
                    _reset(dsn)
                name = f"{label}, {'unpartitioned' if not partitions else f'{partitions} partitions x {args.workers} workers'}"
                print(f"running {name} ...", flush=True)
                results.append(run_configuration(label, kind, catalog, args.battles, partitions, args.workers)
                               | {"name": name, "partitions": partitions})
    print(report(results, args.battles))


def _reset(dsn: str) -> None:
    """An empty catalog database for the next configuration."""
    import duckdb

    from resources.lake import extension_file
    con = duckdb.connect()
    con.execute(f"LOAD '{extension_file('postgres_scanner')}'")
    con.execute(f"ATTACH '{dsn}' AS pg (TYPE postgres)")
    con.execute("CALL postgres_execute('pg', 'DROP SCHEMA public CASCADE; CREATE SCHEMA public')")


def report(results: list[dict], battles: int) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    lines = [f"{battles:,} fictional battles, {results[0]['properties']:,} properties; {os.cpu_count()} cores, {cpu}", "",
             "| configuration | wall s | battles | differences | sql | exports | peak GiB | size GiB | "
             "reads: first / median / max s | snapshot copies (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s = r["stages"]
        copies = f"{r['snapshot_copies']} ({r['snapshot_copy_s']:.1f})" if r["snapshot_copies"] else "none"
        lines.append(f"| {r['name']} | {r['wall']:.1f} | {s['battles']:.1f} | {s['differences']:.1f} | {s['sql']:.1f} | "
                     f"{s['exports']:.1f} | {r['peak_gib']:.2f} | {r['size_gib']:.2f} | {r['reader']['first_s']:.2f} / "
                     f"{r['reader']['median_s']:.2f} / {r['reader']['max_s']:.2f} ({r['reader']['reads']} reads) | {copies} |")
    base = {r["partitions"]: r["wall"] for r in results if r["label"] == "duckdb"}
    lines.append("")
    for r in results:
        if r["label"] != "duckdb":
            lines.append(f"{r['name']}: {r['wall'] / base[r['partitions']]:.2f}x the single file's wall time")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
