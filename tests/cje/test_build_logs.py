"""Building CJE logs with the embedded model, through Dagster, and analysing them."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import dagster as dg
import pytest

from resources.llm import LLM
from resources.settings import load_settings
from resources.warehouse import Warehouse
from tests.cje.test_statistics import REFERENCE_PYTHON
from tests.conftest import ROOT, write_settings


@pytest.mark.slow
def test_experiment_clone_weights_are_one_and_cje_eval_reads_the_logs(settings_file, tmp_path):
    from vibescope.__main__ import build_parser

    args = build_parser().parse_args(["cje", "--max-samples", "20", "--logs-dir", str(tmp_path / "logs")])
    folder = args.run(args)  # one materialization: logs built, exported, and analysed
    wh = Warehouse()
    weights = wh.query("SELECT policy, weight, log_ratio FROM cje.importance_weights")
    clone = weights[weights.policy == "pi_clone"]
    assert len(clone) == 20 and (clone.weight == 1.0).all()  # exactly, on every row
    assert weights[weights.policy == "pi_bad"].log_ratio.mean() < 0
    diag = wh.query("SELECT * FROM cje.weight_diagnostics").set_index("policy")
    assert diag.loc["pi_clone", "ess_fraction"] == 1.0 and diag.loc["pi_clone", "status"] == "GOOD"
    assert wh.query("SELECT policy FROM cje_logs.identical_policies").policy.tolist() == ["pi_clone"]
    assert (folder / "token_level_cje_results.json").exists() and folder.with_suffix(".zip").exists()
    for name in ("p0_scored_deterministic.jsonl", "p0_scored_uncertainty.jsonl", "targets_scored_deterministic.jsonl",
                 "targets_scored_uncertainty.jsonl", "labeling/oracle_labels_calibration_detailed.jsonl",
                 "labeling/oracle_labels_validation_detailed.jsonl", "fresh_draws/pi_bad_responses.jsonl"):
        assert (tmp_path / "logs" / name).read_text().strip(), name
    unc = [json.loads(l) for l in (tmp_path / "logs" / "p0_scored_uncertainty.jsonl").read_text().splitlines()]
    assert all(0 <= r["judge_score"] <= 1 and r["judge_variance"] >= 0 for r in unc)

    if not REFERENCE_PYTHON.exists():
        pytest.fail(f"{REFERENCE_PYTHON} missing: `make test` installs cje-eval 0.3.0 there")
    check = ("import sys; from cje import load_dataset_from_jsonl; d = load_dataset_from_jsonl(sys.argv[1]); "
             "print(len(d.samples), sorted(d.target_policies))")
    out = subprocess.run([str(REFERENCE_PYTHON), "-c", check, str(tmp_path / "logs" / "logged_data.jsonl")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "20 ['pi_bad', 'pi_clone']"


def _build(settings_file, max_samples: int, wait: bool = True) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vibescope", "cje", "--max-samples", str(max_samples),
         "--oracle-fraction", "1.0", "--n-folds", "2"],
        cwd=ROOT, env={**os.environ, "VIBESCOPE_SETTINGS": str(settings_file)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    if wait:
        out, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, out[-3000:]
    return proc


def _cached(settings_file) -> int:
    path = load_settings(settings_file).path("cache")
    try:
        with sqlite3.connect(path, timeout=30) as conn:
            return conn.execute("SELECT count(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_sigkill_during_responses_then_rerun(settings_file, tmp_path):
    proc = _build(settings_file, 6, wait=False)
    deadline = time.monotonic() + 300
    while _cached(settings_file) < 5:  # a few responses (chat + scoring) are done
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _build(settings_file, 6)
    calls = LLM().cache.calls()
    backend = calls[~calls.cached]
    assert backend.request_hash.is_unique  # no finished call was made again
    resumed = Warehouse().query("SELECT prompt_id, policy, response, sequence_logprob FROM cje_logs.responses "
                                "ORDER BY ALL")
    # an uninterrupted run in a second project gives the same rows
    (tmp_path / "other").mkdir()
    other = write_settings(tmp_path / "other" / "dagster_project.toml")
    _build(other, 6)
    fresh = Warehouse(settings_file=str(other)).query(
        "SELECT prompt_id, policy, response, sequence_logprob FROM cje_logs.responses ORDER BY ALL")
    assert len(resumed) == 18 and resumed.equals(fresh)


def test_bad_config_is_refused(settings_file, tmp_path):
    import definitions
    from resources import build_resources

    assets = [*definitions.defs.assets]
    result = dg.materialize(assets, resources=build_resources(str(settings_file)),
                            selection=["cje_logs/prompts", "cje_logs/responses", "cje_logs/policies"],
                            run_config={"ops": {"cje_logs__prompts": {"config": {"max_samples": 2}},
                                                "cje_logs__responses": {"config": {"target_policies": ["pi_nope"]}}}},
                            raise_on_error=False)
    error = result.get_step_failure_events()[0].event_specific_data.error.cause
    assert "no role 'policy.pi_nope'" in error.message and "policy.pi_bad" in error.message
    from vibescope.__main__ import main

    with pytest.raises(SystemExit, match=r"--oracle-fraction must be in \(0, 1\], got 1.5"):
        main(["cje", "--oracle-fraction", "1.5"])


@pytest.mark.slow
def test_policies_through_the_openai_backend(llama_server, tmp_path, monkeypatch):
    import definitions
    from resources import build_resources

    # the server's echo gives the model's own log-probs: accepted knowingly for a temperature-0.5 policy
    policy = ('backend = "openai"\nmodel = "smollm2"\nmax_tokens = 24\nchat_template = "smollm2-135m-instruct"\n'
              'temperature = 0.5\nlogprobs = "model"\n')
    text = write_settings(tmp_path / "s.toml").read_text()
    for name, system in (("p0", "Be helpful."), ("pi_clone", "Be helpful."), ("pi_bad", "Be unhelpful.")):
        start = text.index(f"[roles.policy.{name}]")
        end = text.index("\n\n", start)
        text = text[:start] + f'[roles.policy.{name}]\n{policy}system_prompt = "{system}"' + text[end:]
    path = tmp_path / "s.toml"
    path.write_text(text.replace('base_url = ""', f'base_url = "{llama_server}"'))
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
    selection = ["cje_logs/prompts", "cje_logs/responses", "cje_logs/policies", "cje_logs/teacher_forced_logprobs"]
    config = {"ops": {"cje_logs__prompts": {"config": {"max_samples": 3}}}}
    assert dg.materialize(definitions.defs.assets, resources=build_resources(str(path)), selection=selection,
                          run_config=config).success
    tf = Warehouse().query("SELECT policy, logprob FROM cje_logs.teacher_forced_logprobs ORDER BY prompt_id")
    p0, clone = tf[tf.policy == "p0"].logprob.to_numpy(), tf[tf.policy == "pi_clone"].logprob.to_numpy()
    assert len(p0) == 3 and (p0 == clone).all() and (p0 < 0).all()

    path.write_text(path.read_text().replace('chat_template = "smollm2-135m-instruct"\n', ""))
    result = dg.materialize(definitions.defs.assets, resources=build_resources(str(path)), selection=selection,
                            run_config=config, raise_on_error=False)
    error = result.get_step_failure_events()[0].event_specific_data.error.cause
    assert error.cls_name == "CapabilityError"
    assert "policy 'p0' runs on backend openai:smollm2" in error.message and "llamacpp or vllm" in error.message
