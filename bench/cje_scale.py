"""The `cje` group at scale beside cje-eval, on the same files, in one run.

Rows are resampled from the bundled real sample (data/samples/cje_arena_sample): N logged rows of
the base with its and 3 targets' log-probabilities, judge scores and oracle labels, and one fresh
draw per prompt for each of the 4 policies, written as cje-eval's JSONL files (texts emptied: no
estimator reads them).

  ours       `dg.materialize` of the `cje` group on those files, in a child process: the analysis
             (ingest, calibration (5 folds), importance weights, weight diagnostics, all five
             estimators with their SEs (influence functions + oracle jackknife), pairwise tests with
             Holm and BH, guard rails, and the asset checks), then the report folder by itself
  reference  cje-eval 0.3.0 (.venv-cje), in a child process: analyze_dataset with calibrated-ips,
             then dr-cpo with the fresh draws
Each side: wall seconds (the child's, start to end, imports included) and peak resident memory
(the child's ru_maxrss). Goals at 1M rows: the analysis <= 10 s, >= 5x the reference.

  floor      (the duckdb kind) a lower bound for any pipeline that keeps these tables: the files
             read by DuckDB into typed columns with no check at all, and the tables the group
             wrote (copied from its snapshot as Arrow) written into a fresh file in one go, with no
             computation, no Python per row and no Dagster

  --bootstrap B  the direct estimates with a refit bootstrap of B replicates beside cje-eval 0.9.3
             (.venv-cje09): ours the whole group with every label (oracle_fraction 1) and
             cje.direct_bootstrap at B; the reference analyze_dataset on the fresh draws, calibrated
             on the logged rows' labels (calibration_data_path), inference "bootstrap" at B

    .venv/bin/python bench/cje_scale.py [--n 1000000] [--skip-reference] [--kind duckdb|ducklake]
    .venv/bin/python bench/cje_scale.py --n 100000 --bootstrap 200
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "cje_arena_sample"
POLICIES = ("base", "clone", "parallel_universe_prompt", "unhelpful")

OURS = """
import json, sys, time
t0 = time.perf_counter()
import dagster as dg
import definitions
from resources import build_resources
folder, bootstrap = sys.argv[1], int(sys.argv[3])
config = {"ops": {"cje__logged_data": {"config": {
    "source": "files", "logged_data": folder + "/logged_data.jsonl", "fresh_draws_dir": folder + "/fresh_draws",
    "probe_dir": "", "oracle_fraction": 1.0 if bootstrap else 0.25, "identical_policies": ["clone"]}},
    "cje__direct_bootstrap": {"config": {"n_bootstrap": bootstrap}}}}
everything, resources = [*definitions.defs.assets, *definitions.defs.asset_checks], build_resources(sys.argv[2])
report = dg.AssetSelection.assets(["cje", "report"])
t1 = time.perf_counter()
result = dg.materialize(everything, resources=resources, selection=dg.AssetSelection.groups("cje") - report,
                        run_config=config, raise_on_error=True)
t2 = time.perf_counter()
reported = dg.materialize(everything, resources=resources, selection=report, raise_on_error=True)
t3 = time.perf_counter()
import re
def seconds(message):  # Dagster's "Finished execution of step "x" in 1m 3s." / "in 10.56s." / "in 30ms."
    took = message.rsplit(" in ", 1)[1]
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(v) * units[u] for v, u in re.findall(r"([0-9.]+)(ms|s|m|h)", took))
steps = {e.step_key: seconds(e.message) for r in (result, reported) for e in r.all_events
         if e.event_type_value == "STEP_SUCCESS"}
from resources.warehouse import Warehouse
est = Warehouse(settings_file=sys.argv[2]).query("SELECT policy, estimator, v_hat, se, reason FROM cje.policy_estimates")
boot = Warehouse(settings_file=sys.argv[2]).query("SELECT policy, se FROM cje.direct_bootstrap")
print(json.dumps({"import_s": t1 - t0, "analysis_s": t2 - t1, "report_s": t3 - t2,
                  "steps": steps,
                  "estimates": est.to_dict("records"), "bootstrap_se": dict(zip(boot.policy, boot.se))}))
"""

REFERENCE_09 = """
import json, logging, sys, time, warnings
warnings.filterwarnings("ignore"); logging.disable(logging.CRITICAL)
t0 = time.perf_counter()
from cje import analyze_dataset
folder, n = sys.argv[1], int(sys.argv[2])
t1 = time.perf_counter()
r = analyze_dataset(fresh_draws_dir=folder + "/fresh_draws", calibration_data_path=folder + "/logged_data.jsonl",
                    estimator_config={"inference_method": "bootstrap", "n_bootstrap": n})
print(json.dumps({"import_s": t1 - t0, "s": time.perf_counter() - t1,
                  "estimates": dict(zip(r.metadata["target_policies"], r.estimates.tolist())),
                  "se": dict(zip(r.metadata["target_policies"], r.standard_errors.tolist()))}))
"""

REFERENCE = """
import json, logging, sys, time, warnings
warnings.filterwarnings("ignore"); logging.disable(logging.CRITICAL)
t0 = time.perf_counter()
from cje import analyze_dataset
folder = sys.argv[1]
out = {"import_s": time.perf_counter() - t0}
for name, estimator, kw in [("calibrated-ips", "calibrated-ips", {}),
                            ("dr-cpo", "dr-cpo", {"fresh_draws_dir": folder + "/fresh_draws"})]:
    t = time.perf_counter()
    r = analyze_dataset(logged_data_path=folder + "/logged_data.jsonl", estimator=estimator, **kw)
    out[name] = {"s": time.perf_counter() - t,
                 "estimates": dict(zip(r.metadata["target_policies"], r.estimates.tolist())),
                 "se": dict(zip(r.metadata["target_policies"], r.standard_errors.tolist()))}
print(json.dumps(out))
"""


FLOOR = """
import duckdb, json, sys, time
folder, snapshot, out = sys.argv[1:4]
logged = {"prompt": "VARCHAR", "response": "VARCHAR", "base_policy_logprob": "DOUBLE", "judge_score": "DOUBLE",
          "target_policy_logprobs": "MAP(VARCHAR, DOUBLE)", "oracle_label": "DOUBLE", "metadata": "STRUCT(prompt_id VARCHAR)"}
draws = {"prompt_id": "VARCHAR", "response": "VARCHAR", "judge_score": "DOUBLE", "draw_idx": "BIGINT"}
con = duckdb.connect()
t0 = time.perf_counter()
con.execute("CREATE TABLE logged AS SELECT * FROM read_json(?, columns = ?)", [folder + "/logged_data.jsonl", logged])
con.execute("CREATE TABLE draws AS SELECT * FROM read_json(?, columns = ?)", [folder + "/fresh_draws/*.jsonl", draws])
t1 = time.perf_counter()
con.execute(f"ATTACH '{snapshot}' AS done (READ_ONLY)")
names = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'done' AND schema_name = 'cje'").fetchall()]
tables = {t: con.execute(f"SELECT * FROM done.cje.{t}").to_arrow_table() for t in names}
con.close()
writer = duckdb.connect(out)
t2 = time.perf_counter()
for name, table in tables.items():
    writer.register("incoming", table)
    writer.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming")
    writer.unregister("incoming")
writer.execute("CHECKPOINT")
t3 = time.perf_counter()
print(json.dumps({"read_s": t1 - t0, "write_s": t3 - t2, "tables": len(tables),
                  "rows": sum(t.num_rows for t in tables.values())}))
"""


def write_files(folder: Path, n: int, seed: int = 0) -> None:
    """N logged rows and one fresh draw per prompt and policy, resampled with DuckDB."""
    con = duckdb.connect()
    con.execute(f"SELECT setseed({seed / 1000})")
    con.execute(f"CREATE TABLE logged AS SELECT *, row_number() OVER () - 1 AS k FROM read_json('{SAMPLE}/logged_data.jsonl')")
    m = con.execute("SELECT count(*) FROM logged").fetchone()[0]
    con.execute(f"""
        COPY (
            SELECT '' AS prompt, '' AS response, l.base_policy_logprob, l.target_policy_logprobs, l.judge_score,
                   l.oracle_label, {{'prompt_id': 'r' || i}} AS metadata
            FROM (SELECT i, floor(random() * {m})::BIGINT AS k FROM range({n}) AS t(i)) AS pick
            JOIN logged AS l USING (k) ORDER BY i
        ) TO '{folder}/logged_data.jsonl' (FORMAT JSON)""")
    (folder / "fresh_draws").mkdir()
    for policy in POLICIES:
        con.execute(f"CREATE OR REPLACE TABLE draws AS SELECT *, row_number() OVER () - 1 AS k "
                    f"FROM read_json('{SAMPLE}/fresh_draws/{policy}_responses.jsonl')")
        d = con.execute("SELECT count(*) FROM draws").fetchone()[0]
        con.execute(f"""
            COPY (
                SELECT 'r' || i AS prompt_id, '' AS response, x.judge_score, 0 AS draw_idx
                FROM (SELECT i, floor(random() * {d})::BIGINT AS k FROM range({n}) AS t(i)) AS pick
                JOIN draws AS x USING (k) ORDER BY i
            ) TO '{folder}/fresh_draws/{policy}_responses.jsonl' (FORMAT JSON)""")


def run_child(command: list[str], timeout_s: float) -> tuple[dict, float, float]:
    """(its last stdout line as JSON, wall seconds, peak resident MiB) of a child process."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err, text=True)
        deadline = started + timeout_s
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                return {"timeout_s": timeout_s}, time.perf_counter() - started, usage.ru_maxrss / 1024
            time.sleep(0.05)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if proc.returncode != 0:
            sys.exit(f"{command[:3]} failed ({proc.returncode}): {err.read()[-3000:]}")
        return json.loads(out.read().strip().splitlines()[-1]), wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--kind", choices=("duckdb", "ducklake"), default="duckdb", help="the warehouse kind of ours")
    parser.add_argument("--reference-timeout", type=float, default=1800)
    parser.add_argument("--bootstrap", type=int, default=0, help="B: the direct bootstrap beside cje-eval 0.9.3's")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        write_files(tmp, args.n)
        print(f"files: {args.n:,} logged rows x {len(POLICIES)} policies, {len(POLICIES)} x {args.n:,} fresh draws "
              f"({sum(p.stat().st_size for p in tmp.rglob('*.jsonl')) / 2**20:,.0f} MiB), written in "
              f"{time.perf_counter() - t0:.1f} s")
        project = tmp / "project"
        project.mkdir()
        sys.path.insert(0, str(ROOT))
        from tests.conftest import write_settings

        settings = write_settings(project / "dagster_project.toml")
        if args.kind == "ducklake":  # DuckLake on a SQLite catalog: no snapshot copy after each write
            settings.write_text(settings.read_text().replace('kind = "duckdb"', 'kind = "ducklake"', 1)
                                .replace('catalog = "data/lake_catalog.sqlite"', f'catalog = "{project}/catalog.sqlite"', 1)
                                .replace('data_path = "data/lake"', f'data_path = "{project}/lake"', 1))
        env_python = str(ROOT / ".venv" / "bin" / "python")
        ours, ours_wall, ours_mib = run_child([env_python, "-c", OURS, str(tmp), str(settings), str(args.bootstrap)], 3600)
        print(f"ours ({args.kind}): cje group {ours_wall:8.1f} s wall, peak {ours_mib:,.0f} MiB: the analysis (ingest to guard "
              f"rails) {ours['analysis_s']:.1f} s (goal <= 10 s), the report {ours['report_s']:.1f} s, imports "
              f"{ours['import_s']:.1f} s")
        for step, seconds in sorted(ours["steps"].items(), key=lambda kv: -kv[1]):
            print(f"    {step:32s} {seconds:7.2f} s")
        for e in ours["estimates"]:
            if isinstance(e["reason"], str):
                print(f"    no estimate: {e['policy']} / {e['estimator']}: {e['reason']}")
        if args.kind == "duckdb":
            from resources.settings import load_settings

            floor, _, _ = run_child([env_python, "-c", FLOOR, str(tmp), str(load_settings(settings).path("snapshot")),
                                     str(tmp / "floor.duckdb")], 600)
            print(f"floor: {floor['read_s'] + floor['write_s']:.1f} s = the files read into typed columns with no check "
                  f"{floor['read_s']:.1f} s + the group's {floor['tables']} tables ({floor['rows']:,} rows) written "
                  f"from Arrow in one go, nothing computed {floor['write_s']:.1f} s")
        if args.skip_reference:
            return
        if args.bootstrap:
            ref, ref_wall, ref_mib = run_child([str(ROOT / ".venv-cje09" / "bin" / "python"), "-c", REFERENCE_09, str(tmp),
                                                str(args.bootstrap)], args.reference_timeout)
            if "timeout_s" in ref:
                print(f"cje-eval 0.9.3: did not finish in {ref['timeout_s']:.0f} s; ratio >= {ref_wall / ours_wall:.1f}x")
                return
            print(f"cje-eval 0.9.3 direct + bootstrap {args.bootstrap}: {ref_wall:8.1f} s wall ({ref['s']:.1f} s analysis, "
                  f"imports {ref['import_s']:.1f} s), peak {ref_mib:,.0f} MiB")
            print(f"ratio, reference / ours (wall): {ref_wall / ours_wall:.1f}x   goal >= 5x")
            mine = {e["policy"]: e["v_hat"] for e in ours["estimates"] if e["estimator"] == "direct"}
            for policy, v in ref["estimates"].items():
                print(f"    {policy:26s} direct ours {mine.get(policy, float('nan')):.4f} (bootstrap se "
                      f"{ours['bootstrap_se'].get(policy, float('nan')):.4f})   cje-eval {v:.4f} (se {ref['se'][policy]:.4f})")
            return
        ref, ref_wall, ref_mib = run_child([str(ROOT / ".venv-cje" / "bin" / "python"), "-c", REFERENCE, str(tmp)],
                                           args.reference_timeout)
        if "timeout_s" in ref:
            print(f"cje-eval 0.3.0: did not finish in {ref['timeout_s']:.0f} s (peak {ref_mib:,.0f} MiB); "
                  f"ratio >= {ref_wall / ours_wall:.1f}x")
            return
        print(f"cje-eval 0.3.0         {ref_wall:8.1f} s wall (calibrated-ips {ref['calibrated-ips']['s']:.1f} s, "
              f"dr-cpo {ref['dr-cpo']['s']:.1f} s, imports {ref['import_s']:.1f} s), peak {ref_mib:,.0f} MiB")
        print(f"ratio, reference / ours (wall): {ref_wall / ours_wall:.1f}x   goal >= 5x")
        mine = {(e["policy"], e["estimator"]): e["v_hat"] for e in ours["estimates"]}
        for name, ours_name in (("calibrated-ips", "cal_ips"), ("dr-cpo", "dr")):
            for policy, v in ref[name]["estimates"].items():
                print(f"    {policy:26s} {ours_name:8s} ours {mine.get((policy, ours_name), float('nan')):.4f}   "
                      f"cje-eval {name} {v:.4f} (se {ref[name]['se'][policy]:.4f})")


if __name__ == "__main__":
    main()
