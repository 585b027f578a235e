"""`vibescope acts plan` takes what `vibescope acts` takes: the traces file and the run's flags, and
plans that run (not the settings' defaults); a wrong file is one line naming it."""

import os
import re
import subprocess
import sys

from tests.conftest import ROOT

TRACES = "data/samples/reasoning/eval_responses_deepseek-r1-distill-qwen-1.5b.json"


def plan(*args: str) -> subprocess.CompletedProcess:
    user = {k: v for k, v in os.environ.items() if not k.startswith("VIBESCOPE_")}  # a user's shell: no profile
    return subprocess.run([sys.executable, "-m", "vibescope", "acts", "plan", *args], cwd=ROOT, env=user,
                          capture_output=True, text=True, timeout=120)


def total(out: str) -> tuple[int, int]:
    per_layer, whole = re.search(r"^\s*total\s+(\d+)\s+(\d+)$", out, re.M).groups()
    return int(per_layer), int(whole)


def test_the_plan_of_the_run_about_to_start():
    small = plan(TRACES, "--layers", "6", "12", "--methods", "spherical_kmeans", "--clusters", "5", "--n-test", "2",
                 "--repetitions", "5")
    assert small.returncode == 0, small.stderr[-2000:]
    per_layer, whole = total(small.stdout)
    # one method, k = 5, 5 repetitions: 25 titles, twice for two layers
    assert re.search(r"^\s*namer\s+25\s+50$", small.stdout, re.M), small.stdout
    assert whole == 2 * per_layer
    default = plan(TRACES)
    assert default.returncode == 0 and total(default.stdout)[1] > 100 * whole  # every method and k: far more
    missing = plan("no_such_traces.json")
    assert missing.returncode != 0 and missing.stderr.strip().splitlines() == [
        "vibescope acts plan: no traces file no_such_traces.json"]
