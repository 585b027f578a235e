"""Building CJE logs with the embedded model, through Dagster, and analysing them."""

import json
import subprocess

import dagster as dg
import numpy as np
import pytest

from resources.llm import LLM
from resources.warehouse import Warehouse
from tests.cje.test_statistics import REFERENCE_PYTHON
from tests.conftest import write_settings


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


N = 10  # prompts: 5 oracle labels at --oracle-fraction 0.5, one per calibration fold
# the build's LLM stages, in the order its run reaches them
STAGES = ["cje_logs/responses", "cje_logs/judge_scores", "cje_logs/oracle_labels", "cje_logs/teacher_forced_logprobs"]


@pytest.mark.slow
def test_experiment_clone_weights_are_one_and_cje_eval_reads_the_logs(settings_file, tmp_path):
    """The source tool's command line, as written, on the embedded model, killed in each of its LLM
    stages in turn and resumed (tests/helpers/kill.py); every file the last run writes is re-read."""
    import os
    import re
    import sys
    from pathlib import Path

    from tests.conftest import ROOT
    from tests.helpers.kill import run_killed_in_each

    wh = Warehouse()
    out = run_killed_in_each([sys.executable, "-m", "vibescope", "cje", "build", "--source", "sample:arena",
                              "--max-samples", str(N), "--oracle-fraction", "0.5", "--target-models", "pi_clone",
                              "pi_bad"], dict(os.environ), ROOT, STAGES, wh, wh.settings.path("cache"))
    # one materialization: logs built, exported into the run folder, and analysed
    folder = Path(re.search(r"run folder: (\S+) \(and", out).group(1))
    weights = wh.query("SELECT policy, weight, log_ratio FROM cje.importance_weights")
    clone, bad = weights[weights.policy == "pi_clone"], weights[weights.policy == "pi_bad"]
    assert len(clone) == N and (clone.weight == 1.0).all()  # exactly, on every row
    # pi_bad samples at temperature 0.5, top_p 0.95 with another system prompt: the base's responses
    # are less likely under it, and those with a token outside its nucleus have weight 0
    outside = wh.query("SELECT count(*) AS n FROM cje_logs.teacher_forced_logprobs "
                       "WHERE policy = 'pi_bad' AND outside_support").n[0]
    assert (bad.weight != 1).all() and (bad.weight == 0).sum() == outside
    assert bad.log_ratio[bad.weight > 0].mean() < 0
    diag = wh.query("SELECT * FROM cje.weight_diagnostics").set_index("policy")
    assert diag.loc["pi_clone", "ess_fraction"] == 1.0 and diag.loc["pi_clone", "status"] == "GOOD"
    assert diag.loc["pi_bad", "n_weight_zero"] == outside
    assert wh.query("SELECT policy FROM cje_logs.identical_policies").policy.tolist() == ["pi_clone"]
    # the oracle is not the judge's cached answer: its own rubric, so none of its calls is a judge's
    calls = LLM().cache.calls()
    oracle, judge = (calls[calls.asset == f"cje_logs/{a}"] for a in ("oracle_labels", "judge_scores"))
    assert len(oracle) > 0 and not set(oracle.request_hash) & set(judge.request_hash)

    assert (folder / "token_level_cje_results.json").exists() and folder.with_suffix(".zip").exists()
    prompts = _jsonl(folder / f"arena_prompts_{N}.jsonl")
    assert len(prompts) == N and all(p["prompt"] for p in prompts)
    responses = _jsonl(folder / "all_responses.jsonl")
    assert len(responses) == 3 * N and {r["policy"] for r in responses} == {"p0", "pi_clone", "pi_bad"}
    assert all(r["temperature"] == 0.5 and r["top_p"] == 0.95 and len(r["token_logprobs"]) > 0 for r in responses)
    logprobs = _jsonl(folder / "logprobs.jsonl")
    assert len(logprobs) == 3 * N and sum(r["outside_support"] for r in logprobs) == outside
    assert all(r["logprob"] == sum(r["token_logprobs"]) for r in logprobs if r["logprob"] != float("-inf"))
    scored = _jsonl(folder / "p0_scored_deterministic.jsonl")
    assert len(scored) == N and all(set(r["target_policy_logprobs"]) == {"pi_clone", "pi_bad"} for r in scored)
    assert all(r["target_policy_logprobs"]["pi_clone"] == r["base_policy_logprob"] for r in scored)
    unc = _jsonl(folder / "p0_scored_uncertainty.jsonl")
    assert all(0 <= r["judge_score"] <= 1 and r["judge_variance"] >= 0 for r in unc)
    # the uncertainty judge's variance reaches the analysis (a calibration covariate), row for row
    passed = wh.query("""SELECT count(*) AS n, count(*) FILTER (WHERE c.judge_variance IS NOT DISTINCT FROM b.uncertainty_variance) AS same
                         FROM cje.judge_scores AS c JOIN cje_logs.logged_rows AS b
                           ON b.prompt_id = c.prompt_id AND b.policy = c.policy AND b.draw_idx = c.draw_idx
                         WHERE c.source IN ('logged', 'fresh')""")
    assert passed.n[0] >= N and passed.same[0] == passed.n[0]
    assert wh.query("SELECT count(judge_variance) AS n FROM cje.judge_scores").n[0] > 0
    calibration, validation = (_jsonl(folder / f"oracle_labels_{s}.jsonl") for s in ("calibration", "validation"))
    assert {r["policy"] for r in calibration} == {"p0"} and {r["policy"] for r in validation} == {"pi_clone", "pi_bad"}
    info = json.loads((folder / "dataset_info.json").read_text())
    assert info["counts"]["prompts"] == N and info["counts"]["all_responses"] == 3 * N
    assert info["seeds"]["cje_logs.prompts"] == {"seed": 42} and len(info["settings_hash"]) == 64
    assert [p["policy"] for p in info["policies"]] == ["p0", "pi_bad", "pi_clone"]
    assert info["models"] == {"judge": "smollm2-135m-instruct", "oracle": "smollm2-135m-instruct"}
    log = _jsonl(folder / "stochastic_log.jsonl")
    logged = [r for r in log if r["source"] == "logged"]
    assert len(logged) == N and all(r["base_policy_logprob"] is not None and r["token_logprobs"] for r in logged)
    assert all(r["seeds"] == {"oracle_label_seed": 42, "oracle_fraction": 1.0, "fold_seed": 42, "n_folds": 5}
               for r in log)
    assert all(r["calibrated_score"] is not None for r in log if r["judge_score"] is not None)
    with_label = [r for r in log if r["oracle_label"] is not None]
    assert {r["oracle_split"] for r in with_label} >= {"calibration"}

    if not REFERENCE_PYTHON.exists():
        pytest.fail(f"{REFERENCE_PYTHON} missing: `make test` installs cje-eval 0.3.0 there")
    check = ("import sys; from cje import load_dataset_from_jsonl; d = load_dataset_from_jsonl(sys.argv[1]); "
             "print(len(d.samples), sorted(d.target_policies))")
    out = subprocess.run([str(REFERENCE_PYTHON), "-c", check, str(folder / "logged_data.jsonl")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == f"{N} ['pi_bad', 'pi_clone']"


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

    # a declared clone that is not a target: refused before any policy is called, the prompts kept
    result = dg.materialize(assets, resources=build_resources(str(settings_file)),
                            selection=["cje_logs/prompts", "cje_logs/responses", "cje_logs/policies"],
                            run_config={"ops": {"cje_logs__prompts": {"config": {"max_samples": 2}},
                                                "cje_logs__responses": {"config": {
                                                    "target_policies": ["pi_bad"], "identical_policies": ["pi_clone"]}}}},
                            raise_on_error=False)
    error = result.get_step_failure_events()[0].event_specific_data.error.cause
    assert ("cje_logs__responses.identical_policies names ['pi_clone'], which are not targets "
            "(target_policies: ['pi_bad'])") in error.message
    assert len(Warehouse().query("SELECT * FROM cje_logs.prompts")) == 2 and LLM().cache.calls().empty
    from vibescope.__main__ import main

    with pytest.raises(SystemExit, match=r"--oracle-fraction must be in \(0, 1\], got 1.5"):
        main(["cje", "build", "--source", "sample:arena", "--oracle-fraction", "1.5"])


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
    selection = ["cje_logs/prompts", "cje_logs/responses", "cje_logs/policies", "cje_logs/prompt_responses",
                 "cje_logs/teacher_forced_logprobs"]
    config = {"ops": {"cje_logs__prompts": {"config": {"max_samples": 3}}}}
    assert dg.materialize(definitions.defs.assets, resources=build_resources(str(path)), selection=selection,
                          run_config=config).success
    tf = Warehouse().query("SELECT policy, logprob FROM cje_logs.teacher_forced_logprobs ORDER BY prompt_id")
    p0, clone = tf[tf.policy == "p0"].logprob.to_numpy(), tf[tf.policy == "pi_clone"].logprob.to_numpy()
    # the clone is scored by a call of its own: llama.cpp's server does not repeat its own teacher
    # forcing to the bit (0.03-0.28 nats apart on ~20-token responses), which the blocking clone
    # check would report; the two stay within the kernels' noise
    gap = np.abs(p0 - clone)
    print(f"p0 vs pi_clone over the server: largest gap {gap.max():.4f} nats")
    assert len(p0) == 3 and (p0 < 0).all() and (gap < 0.5).all()

    path.write_text(path.read_text().replace('chat_template = "smollm2-135m-instruct"\n', ""))
    result = dg.materialize(definitions.defs.assets, resources=build_resources(str(path)), selection=selection,
                            run_config=config, raise_on_error=False)
    error = result.get_step_failure_events()[0].event_specific_data.error.cause
    assert error.cls_name == "CapabilityError"
    assert "policy 'p0' runs on backend openai:smollm2" in error.message and "llamacpp or vllm" in error.message


@pytest.mark.slow
def test_the_clone_check_compares_two_computations_and_stops_a_misconfigured_clone(tmp_path, monkeypatch):
    """pi_clone's teacher forcing is a call of its own (its role is in the scoring key), so the
    blocking identical-policy check compares two computations: configured like p0 it passes with
    log-ratios exactly 0; declared identical while sampling at temperature 0.6 instead of 0.5, its
    log-probabilities differ, the check fails naming the policy, and the logs built on it do not."""
    import definitions
    from resources import build_resources
    from resources.llm import LLM

    selection = ["cje_logs/prompts", "cje_logs/responses", "cje_logs/policies", "cje_logs/prompt_responses",
                 "cje_logs/identical_policies", "cje_logs/teacher_forced_logprobs"]
    downstream = ["cje_logs/judge_scores", "cje_logs/oracle_labels", "cje_logs/logged_rows"]
    check = dg.AssetCheckKey(dg.AssetKey(["cje_logs", "teacher_forced_logprobs"]),
                             "cje_logs_identical_policies_have_weight_one")

    def build(folder, temperature: str, identical: list[str], also=()):
        folder.mkdir()
        text = write_settings(folder / "s.toml").read_text()
        start = text.index("[roles.policy.pi_clone]")
        clone = text[start:text.index("\n\n", start)]
        path = folder / "s.toml"
        path.write_text(text.replace(clone, clone.replace("temperature = 0.5", f"temperature = {temperature}")))
        monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
        config = {"ops": {"cje_logs__prompts": {"config": {"source": "sample:arena", "max_samples": 2}},
                          "cje_logs__responses": {"config": {"target_policies": ["pi_clone"],
                                                             "identical_policies": identical}}}}
        return dg.materialize([*definitions.defs.assets, *definitions.defs.asset_checks],
                              resources=build_resources(str(path)), selection=[*selection, *also], run_config=config,
                              raise_on_error=False), path

    clean, _ = build(tmp_path / "clean", "0.5", [])
    assert clean.success
    [evaluation] = [e for e in clean.get_asset_check_evaluations() if e.asset_check_key == check]
    assert evaluation.passed
    calls = LLM().cache.calls()
    scores = calls[calls.kind == "score"]
    clone, p0 = (set(scores[scores.role == f"policy.{p}"].request_hash) for p in ("pi_clone", "p0"))
    assert len(clone) == 2 and not clone & p0  # never p0's cached answers
    assert set(scores[(scores.role == "policy.pi_clone") & ~scores.cached].request_hash) == clone  # each computed
    assert Warehouse().query("SELECT policy, declared FROM cje_logs.identical_policies").values.tolist() == [
        ["pi_clone", False]]

    perturbed, _ = build(tmp_path / "perturbed", "0.6", ["pi_clone"], downstream)
    assert not perturbed.success
    [evaluation] = [e for e in perturbed.get_asset_check_evaluations() if e.asset_check_key == check]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    wh = Warehouse()
    assert wh.query("SELECT policy, declared FROM cje_logs.identical_policies").values.tolist() == [["pi_clone", True]]
    tf = wh.query("SELECT policy, logprob FROM cje_logs.teacher_forced_logprobs ORDER BY prompt_id")
    assert (tf[tf.policy == "p0"].logprob.to_numpy() != tf[tf.policy == "pi_clone"].logprob.to_numpy()).all()
    assert not wh.table_exists("cje_logs.logged_rows")  # the blocking check stopped what reads the logs
