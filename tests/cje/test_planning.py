"""Planning a study (analysis/cje_planning.py, cje.variance_model, `vibescope cje plan`) against
cje-eval 0.9.3 in its own venv: its plan_evaluation and plan_for_mde on the same variance model
give the same plans, and its fit_variance_model on the bundled pilot (the base's fresh draws,
refitted on subsamples) gives variance parts and a plan close to the ones read off our SEs."""

import json
import os
import subprocess
import sys

import pytest

from analysis import cje_planning
from tests.cje.conftest import SAMPLE, run_09
from tests.conftest import ROOT

PLANS_09 = """
import json, sys, warnings, logging
warnings.simplefilter("ignore"); logging.disable(logging.WARNING)
from cje.diagnostics import CostModel, plan_evaluation, plan_for_mde
from cje.diagnostics.planning import FittedVarianceModel
out = []
for c in json.load(sys.stdin):
    model, costs = FittedVarianceModel(c["s2_eval"], c["s2_cal"], 1.0, 1), CostModel(c["c_s"], c["c_y"])
    p = (plan_evaluation(c["budget"], model, costs, m_min=c["m_min"]) if "budget" in c
         else plan_for_mde(c["mde"], model, costs, m_min=c["m_min"]))
    out.append([p.n_samples, p.m_oracle, p.total_cost, p.se_level, p.mde])
print(json.dumps(out))
"""

FIT_09 = """
import json, sys, warnings, logging
warnings.simplefilter("ignore"); logging.disable(logging.WARNING)
from cje.data.fresh_draws import load_fresh_draws_auto
from cje.diagnostics import fit_variance_model
m = fit_variance_model(load_fresh_draws_auto(sys.argv[1], "base"), verbose=False)
print(json.dumps([m.sigma2_eval, m.sigma2_cal, m.r_squared]))
"""


CASES = [  # interior optima, the label floor binding, no calibration variance, labels dearer, tight budgets
    {"s2_eval": 0.0107, "s2_cal": 0.0494, "c_s": 1.0, "c_y": 16.0, "m_min": 30, "mde": 0.05},
    {"s2_eval": 0.0107, "s2_cal": 0.0494, "c_s": 0.01, "c_y": 0.16, "m_min": 30, "budget": 5000.0},
    {"s2_eval": 0.05, "s2_cal": 0.0005, "c_s": 1.0, "c_y": 16.0, "m_min": 30, "mde": 0.03},
    {"s2_eval": 0.02, "s2_cal": 0.0, "c_s": 1.0, "c_y": 5.0, "m_min": 30, "budget": 3000.0},
    {"s2_eval": 0.001, "s2_cal": 0.2, "c_s": 1.0, "c_y": 2.0, "m_min": 10, "mde": 0.1},
    {"s2_eval": 0.0107, "s2_cal": 0.0494, "c_s": 1.0, "c_y": 16.0, "m_min": 30, "budget": 510.0},
]


def test_plans_equal_cje_eval_0_9s_on_the_same_variance_model():
    theirs = run_09(PLANS_09, stdin=json.dumps(CASES))
    for case, (n, m, cost, se, mde) in zip(CASES, theirs):
        costs = {k: case[k] for k in ("s2_eval", "s2_cal", "c_s", "c_y", "m_min")}
        mine = (cje_planning.for_budget(case["budget"], **costs) if "budget" in case
                else cje_planning.for_mde(case["mde"], **costs))
        assert (mine.n, mine.m) == (n, m), (case, mine, theirs)
        assert (mine.cost, mine.se, mine.mde) == pytest.approx((cost, se, mde), rel=1e-12)


def test_the_pilots_variance_and_plan_are_close_to_cje_eval_0_9s_fit(sample_warehouse):
    """Ours is read off the pilot's SE decomposition; 0.9.3 refits the estimator on subsamples of
    the pilot (its default 50 per grid point: at 25 its sigma2_eval moves by a quarter) and fits the
    two parts by NNLS (R^2 about 0.98 here): two ways to the same quantity."""
    wh, _ = sample_warehouse
    row = wh.query("SELECT * FROM cje.variance_model WHERE estimator = 'direct' AND policy = 'base'").iloc[0]
    s2_eval, s2_cal, r2 = run_09(FIT_09, str(SAMPLE / "fresh_draws"))
    mine = cje_planning.for_mde(0.05, row.sigma2_eval, row.sigma2_cal, 1.0, 16.0)
    theirs = cje_planning.for_mde(0.05, s2_eval, s2_cal, 1.0, 16.0)
    print(f"\nsigma2_eval {row.sigma2_eval:.4f} vs {s2_eval:.4f}, sigma2_cal {row.sigma2_cal:.4f} vs {s2_cal:.4f} "
          f"(R^2 {r2:.2f}); MDE 0.05: n {mine.n} vs {theirs.n}, m {mine.m} vs {theirs.m}")
    assert r2 > 0.5  # their fit holds, so the comparison means something
    assert row.sigma2_eval == pytest.approx(s2_eval, rel=0.25) and row.sigma2_cal == pytest.approx(s2_cal, rel=0.25)
    assert mine.m == pytest.approx(theirs.m, rel=0.25) and mine.n == pytest.approx(theirs.n, rel=0.25)


def test_the_command_plans_on_the_pilot_and_says_when_there_is_none(sample_warehouse, tmp_path):
    wh, _ = sample_warehouse
    env = {**os.environ, "VIBESCOPE_SETTINGS": str(wh.settings_file)}
    out = subprocess.run([sys.executable, "-m", "vibescope", "cje", "plan", "--mde", "0.05", "--estimator", "direct"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    model = wh.query("SELECT * FROM cje.variance_model WHERE estimator = 'direct'")
    worst = model.loc[(model.sigma2_eval / model.n + model.sigma2_cal / model.m).idxmax()]
    plan = cje_planning.for_mde(0.05, worst.sigma2_eval, worst.sigma2_cal, 1.0, 16.0)
    assert f"pilot: {worst.policy} by direct" in out.stdout
    assert f"plan: {plan.n:,} judge-scored rows per policy and {plan.m:,} oracle labels" in out.stdout

    from tests.conftest import write_settings

    empty = {**os.environ, "VIBESCOPE_SETTINGS": str(write_settings(tmp_path / "dagster_project.toml"))}
    none = subprocess.run([sys.executable, "-m", "vibescope", "cje", "plan", "--se", "0.01"], cwd=ROOT, env=empty,
                          capture_output=True, text=True, timeout=300)
    assert none.returncode == 1 and none.stderr.strip().splitlines() == [
        "no pilot: run `vibescope cje LOGGED ...` first (cje.variance_model is made from its SEs)"], none.stderr
    zero = subprocess.run([sys.executable, "-m", "vibescope", "cje", "plan", "--se", "0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert zero.returncode == 1 and zero.stderr.strip().splitlines() == ["--se must be above 0, got 0"], zero.stderr
