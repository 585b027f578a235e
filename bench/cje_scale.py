"""CJE at scale: 1M logged rows x 4 policies, resampled from the bundled real sample.

Side by side in one run, on the same rows:
  ours       the project's SQL models in DuckDB: sql/cje/importance_weights.sql,
             sql/cje/weight_diagnostics.sql, SNIPS with its influence functions, and
             sql/cje/pairwise_tests.sql (p-values, Holm, BH); timed twice: the queries alone on one
             connection, and through the Warehouse resource (each table an atomic replace plus a
             published snapshot, as a materialization does)
  reference  cje-eval 0.3.0's raw IPS (CalibratedIPS with calibrate_weights=False), in its own
             virtual environment (.venv-cje); its estimation timed apart from building its
             pydantic Dataset
Reward = judge score (raw IPS needs no calibration). Goals: ours <= 5 s, >= 5x the reference.
    .venv/bin/python bench/cje_scale.py [--n 1000000]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from resources.sql_files import SqlFile
from resources.sql_functions import register_udfs
from resources.warehouse import Warehouse

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "cje_arena_sample" / "logged_data.jsonl"
TARGETS = ("clone", "parallel_universe_prompt", "unhelpful")
MODELS = [SqlFile.load(ROOT / "sql" / "cje" / f"{name}.sql")
          for name in ("importance_weights", "weight_diagnostics")]
PAIRWISE = SqlFile.load(ROOT / "sql" / "cje" / "pairwise_tests.sql")
SNIPS = {
    "cje.policy_estimates": """
        SELECT w.policy, 'snips' AS estimator, sum(w.weight * j.judge_score) / sum(w.weight) AS v_hat
        FROM cje.importance_weights AS w JOIN cje.judge_scores AS j USING (prompt_id)
        WHERE w.problem IS NULL GROUP BY w.policy""",
    "cje.influence_functions": """
        SELECT w.policy, 'snips' AS estimator, w.prompt_id,
               w.weight * (j.judge_score - e.v_hat) / avg(w.weight) OVER (PARTITION BY w.policy) AS influence
        FROM cje.importance_weights AS w JOIN cje.judge_scores AS j USING (prompt_id)
        JOIN cje.policy_estimates AS e ON e.policy = w.policy
        WHERE w.problem IS NULL""",
    # raw IPS has no calibration: every jackknife replicate is the estimate itself (variance 0)
    "cje.oracle_jackknife": """
        SELECT policy, estimator, fold, v_hat FROM cje.policy_estimates, range(5) AS t(fold)""",
}
STEPS = [*((f"cje.{m.name}", m.sql) for m in MODELS), *SNIPS.items(), ("cje.pairwise_tests", PAIRWISE.sql)]

REFERENCE = """
import json, logging, sys, time, warnings
warnings.filterwarnings("ignore"); logging.disable(logging.CRITICAL)
import pandas as pd
from cje.data.models import Dataset, Sample
from cje.data.precomputed_sampler import PrecomputedSampler
from cje.estimators import CalibratedIPS
rows = pd.read_csv(sys.argv[1])
targets = sys.argv[2].split(",")
t0 = time.perf_counter()
samples = [Sample(prompt_id=r.prompt_id, prompt="", response="", reward=r.judge_score,
                  judge_score=r.judge_score, base_policy_logprob=r.base,
                  target_policy_logprobs={t: getattr(r, t) for t in targets})
           for r in rows.itertuples()]
sampler = PrecomputedSampler(Dataset(samples=samples, target_policies=targets))
t1 = time.perf_counter()
result = CalibratedIPS(sampler, calibrate_weights=False).fit_and_estimate()
t2 = time.perf_counter()
print(json.dumps({"build_s": t1 - t0, "estimate_s": t2 - t1, "estimates": list(result.estimates)}))
"""


def resample(n: int, seed: int = 0) -> pd.DataFrame:
    rows = pd.read_json(SAMPLE, lines=True)
    pick = np.random.default_rng(seed).integers(0, len(rows), size=n)
    frame = pd.DataFrame({"prompt_id": [f"r{i}" for i in range(n)],
                          "judge_score": rows.judge_score.to_numpy()[pick],
                          "base": rows.base_policy_logprob.to_numpy()[pick]})
    for t in TARGETS:
        frame[t] = rows.target_policy_logprobs.map(lambda d: d[t]).to_numpy()[pick]
    return frame


def load(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS cje")
    con.execute("CREATE OR REPLACE TABLE cje.policies AS SELECT * FROM (VALUES ('base', true, false), "
                + ", ".join(f"('{t}', false, {str(t == 'clone').lower()})" for t in TARGETS)
                + ") AS t(policy, is_base, declared_identical)")
    con.execute("CREATE OR REPLACE TABLE cje.judge_scores AS SELECT prompt_id, judge_score FROM frame")
    con.execute("CREATE OR REPLACE TABLE cje.teacher_forced_logprobs AS "
                + " UNION ALL ".join(f"SELECT prompt_id, '{p}' AS policy, {c} AS logprob FROM frame"
                                     for p, c in [("base", "base"), *((t, t) for t in TARGETS)]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    frame = resample(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # ours, queries alone on one connection
        con = duckdb.connect(str(tmp / "plain.duckdb"))
        register_udfs(con)
        load(con, frame)
        t0 = time.perf_counter()
        for table, sql in STEPS:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS {sql}")
        sql_s = time.perf_counter() - t0
        ours = con.execute("SELECT policy, v_hat FROM cje.policy_estimates ORDER BY policy").df()
        holm = con.execute("SELECT count(*) FROM cje.pairwise_tests").fetchone()[0]
        con.close()

        # ours, through the Warehouse resource (transaction + snapshot per table)
        wh = Warehouse(database=str(tmp / "wh.duckdb"), snapshot_path=str(tmp / "snap.duckdb"))
        with wh.transaction() as con:
            load(con, frame)
        t0 = time.perf_counter()
        for table, sql in STEPS:
            wh.create_table_as(table, sql)
        warehouse_s = time.perf_counter() - t0

        # the reference, on the same rows
        frame.to_csv(tmp / "rows.csv", index=False)
        out = subprocess.run([str(ROOT / ".venv-cje" / "bin" / "python"), "-c", REFERENCE,
                              str(tmp / "rows.csv"), ",".join(TARGETS)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"reference failed: {out.stderr[-2000:]}")
        ref = json.loads(out.stdout.strip().splitlines()[-1])

    print(f"rows: {args.n:,} logged x {len(TARGETS) + 1} policies; {holm} pairwise tests")
    print(f"ours: SQL models alone              {sql_s:8.2f} s   goal <= 5 s")
    print(f"ours: through the Warehouse         {warehouse_s:8.2f} s   (atomic replace + snapshot per table)")
    print(f"cje-eval raw IPS: estimate          {ref['estimate_s']:8.2f} s")
    print(f"cje-eval raw IPS: build Dataset     {ref['build_s']:8.2f} s")
    print(f"speed-up, SQL vs reference estimate              {ref['estimate_s'] / sql_s:6.1f}x   goal >= 5x")
    print(f"speed-up, warehouse vs reference estimate + build "
          f"{(ref['estimate_s'] + ref['build_s']) / warehouse_s:6.1f}x")
    ours_targets = ours.set_index("policy").v_hat.reindex(list(TARGETS)).to_numpy()
    print(f"largest |ours - reference| SNIPS estimate: {np.max(np.abs(ours_targets - ref['estimates'])):.2e}")


if __name__ == "__main__":
    main()
