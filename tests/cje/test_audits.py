"""Boundary cards, transport audits and the decision (cje.boundary_cards, cje.transport_audits,
cje.decision) against cje-eval 0.9.3 in its own venv: its boundary_card and audit_transportability
fed the same judge scores, rewards and probes, and its best_policy() on the bundled sample; each
status and decision rule made to fire on real tables or constructed inputs."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from analysis.cje_decision import decide
from analysis.cje_transport import audit
from tests.cje.conftest import SAMPLE, materialize_cje, run_09

# cje-eval 0.9.3 on the inputs it is sent: boundary cards, then transport audits
REFERENCE = """
import json, sys, warnings
import numpy as np
from cje.diagnostics.reward_boundary import boundary_card
from cje.diagnostics.transport import audit_transportability
spec = json.load(sys.stdin)

class Lookup:  # the calibrator: the judge score's reward, as the warehouse holds it
    def __init__(self, scores, rewards):
        self.table = dict(zip(scores, rewards))
    def predict(self, scores):
        return np.array([self.table.get(s, s) for s in scores], dtype=float)

out = {"cards": {}, "audits": []}
for policy, c in spec["cards"].items():
    card = boundary_card(np.array(c["scores"]), np.array(spec["labelled_range"]), np.array(c["rewards"]),
                         *spec["reward_range"])
    out["cards"][policy] = {"status": card.status, "out_of_range": card.out_of_range, "saturation": card.saturation}
for a in spec["audits"]:
    rows = [{"prompt_id": str(p), "judge_score": s, "oracle_label": y} for p, s, y in zip(a["prompts"], a["scores"], a["labels"])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = audit_transportability(Lookup(a["scores"], a["rewards"]), rows, delta_max=a["delta_max"],
                                   family_size=a["family_size"], alpha=0.05, min_effective_clusters=20.0)
    out["audits"].append({"status": d.status, "mean_residual": d.delta_hat, "se": d.delta_se,
                          "ci": list(d.delta_ci), "effective_clusters": d.effective_clusters, "n_clusters": d.n_clusters})
print(json.dumps(out))
"""


def test_cards_and_audits_equal_cje_eval_0_9_on_the_bundled_sample(sample_warehouse):
    wh, _ = sample_warehouse
    labelled = wh.query("""SELECT r.judge_score, r.reward_full FROM cje.calibrated_rewards r
                           JOIN cje.calibration_labels USING (prompt_id) WHERE r.policy = 'base' AND r.source = 'logged'""")
    fresh = wh.query("SELECT policy, judge_score, reward_full FROM cje.calibrated_rewards WHERE source = 'fresh'")
    probes = wh.query("""SELECT o.policy, o.prompt_id, r.judge_score, o.oracle_label, r.reward_full
                         FROM cje.oracle_labels o JOIN cje.calibrated_rewards r USING (prompt_id, policy, source, draw_idx)
                         WHERE o.source = 'probe' ORDER BY ALL""")
    audited = sorted(probes.policy.unique())
    spec = {"labelled_range": [labelled.judge_score.min(), labelled.judge_score.max()],
            "reward_range": [labelled.reward_full.min(), labelled.reward_full.max()],
            "cards": {p: {"scores": g.judge_score.tolist(), "rewards": g.reward_full.tolist()}
                      for p, g in fresh.groupby("policy")},
            "audits": [{"prompts": g.prompt_id.tolist(), "scores": g.judge_score.tolist(), "labels": g.oracle_label.tolist(),
                        "rewards": g.reward_full.tolist(), "delta_max": 0.05, "family_size": len(audited)}
                       for _, g in probes.groupby("policy")]}
    theirs = run_09(REFERENCE, stdin=json.dumps(spec))

    cards = wh.query("SELECT * FROM cje.boundary_cards").set_index("policy")
    assert set(cards.index) == set(theirs["cards"]) == {"base", "clone", "parallel_universe_prompt", "unhelpful"}
    for policy, card in theirs["cards"].items():
        assert cards.status[policy] == card["status"], policy
        assert cards.out_of_range[policy] == pytest.approx(card["out_of_range"], abs=1e-12)
        assert cards.saturation[policy] == pytest.approx(card["saturation"], abs=1e-12)
    audits = wh.query("SELECT * FROM cje.transport_audits").set_index("policy")
    assert audits.delta_max.eq(0.05).all()  # the demo profile's margin
    for policy, a in zip(audited, theirs["audits"]):
        mine = audits.loc[policy]
        assert mine.status == a["status"] and mine.n_clusters == a["n_clusters"], policy
        assert (mine.mean_residual, mine.se, mine.ci_low, mine.ci_high, mine.effective_clusters) == pytest.approx(
            (a["mean_residual"], a["se"], *a["ci"], a["effective_clusters"]), abs=1e-12)
    # the adversarial policy's calibration does not transport, whatever the margin's slack
    assert audits.status["unhelpful"] == "FAIL"


def generated(mean: float, n_clusters: int, per_cluster: int, spread: float, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    prompts = np.repeat(np.arange(n_clusters), per_cluster)
    residuals = mean + rng.normal(0, spread, n_clusters)[prompts] * 0.5 + rng.normal(0, spread, len(prompts))
    return prompts, residuals


CASES = {  # status: (mean residual, clusters, rows per cluster, spread, delta_max)
    "PASS": (0.0, 200, 2, 0.05, 0.05),
    "FAIL": (0.3, 30, 2, 0.1, 0.05),
    "INCONCLUSIVE (few clusters)": (0.0, 10, 5, 0.02, 0.05),
    "INCONCLUSIVE (crosses the margin)": (0.045, 60, 1, 0.1, 0.05),
    "NOT_GRADED": (0.0, 60, 1, 0.1, 0.0),
}


def test_each_transport_status_fires_as_cje_eval_0_9_grades_it():
    specs, mine = [], []
    for i, (mean, g, per, spread, delta) in enumerate(CASES.values()):
        prompts, residuals = generated(mean, g, per, spread, seed=i)
        scores = np.linspace(0.1, 0.9, len(prompts))
        rewards = np.full(len(prompts), 0.5)
        specs.append({"prompts": prompts.tolist(), "scores": scores.tolist(), "labels": (rewards + residuals).tolist(),
                      "rewards": rewards.tolist(), "delta_max": delta or None, "family_size": 1})
        mine.append(audit(residuals, prompts, delta, 0.05, 1, 20))
    theirs = run_09(REFERENCE, stdin=json.dumps({"labelled_range": [0, 1], "reward_range": [0, 1], "cards": {}, "audits": specs}))["audits"]
    for name, m, t in zip(CASES, mine, theirs):
        assert m.status == t["status"] == name.split(" ")[0], (name, m, t)
        assert (m.mean_residual, m.se, m.ci_low, m.ci_high) == pytest.approx((t["mean_residual"], t["se"], *t["ci"]),
                                                                             abs=1e-12)


def test_refuse_level_not_checked_and_an_overlapping_probe_fire_on_real_tables(settings_file, tmp_path):
    folder = tmp_path / "sample"
    shutil.copytree(SAMPLE, folder)
    # a tenth of the unhelpful policy's draws scored below every labelled score: no level claim for it
    draws = folder / "fresh_draws" / "unhelpful_responses.jsonl"
    rows = [json.loads(line) for line in draws.read_text().splitlines()]
    for r in rows[::10]:
        r["judge_score"] = 0.0
    draws.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "probe_slice" / "parallel_universe_prompt_probe.jsonl").unlink()  # this one is not audited
    config = {"logged_data": str(folder / "logged_data.jsonl"), "fresh_draws_dir": str(folder / "fresh_draws"),
              "probe_dir": str(folder / "probe_slice"), "oracle_fraction": 1.0}
    assert materialize_cje(settings_file, **config).success
    from resources.warehouse import Warehouse

    wh = Warehouse()
    card = wh.query("SELECT * FROM cje.boundary_cards WHERE policy = 'unhelpful'").iloc[0]
    below = sum(r["judge_score"] < 0.1 for r in rows) / len(rows)  # 0.1: the sample's lowest labelled score
    assert card.status == "REFUSE-LEVEL" and card.out_of_range == pytest.approx(below) and below >= 0.1
    assert "outside the labelled range [0.1, 1] (judge units)" in card.note
    audits = wh.query("SELECT policy, status, n_probes FROM cje.transport_audits").set_index("policy")
    assert audits.status["parallel_universe_prompt"] == "NOT_CHECKED" and audits.n_probes["parallel_universe_prompt"] == 0

    # a probe that repeats a calibration row (the base's own logged response and label): refused by name
    logged = next(r for r in map(json.loads, (folder / "logged_data.jsonl").read_text().splitlines())
                  if r.get("oracle_label") is not None)
    (folder / "probe_slice" / "base_probe.jsonl").write_text(json.dumps(
        {"prompt_id": logged["metadata"]["prompt_id"], "prompt": logged["prompt"], "response": logged["response"],
         "judge_score": logged["judge_score"], "oracle_label": logged["oracle_label"]}) + "\n")
    result = materialize_cje(settings_file, raise_on_error=False, **config)
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "cje__transport_audits"
    assert (f"the probe of policy base on prompt_id {logged['metadata']['prompt_id']} (draw 0) is also a calibration "
            "label (1 such probe row(s))") in failure.event_specific_data.error.cause.message


DECISION_09 = """
import json, logging, sys, warnings
from pathlib import Path
warnings.simplefilter("ignore"); logging.disable(logging.WARNING)
from cje import analyze_dataset
from cje.diagnostics.transport import TransportAuditConfig
sample = Path(sys.argv[1])
probes = {p.name.removesuffix("_probe.jsonl"): [json.loads(l) for l in p.read_text().splitlines()]
          for p in sorted((sample / "probe_slice").glob("*_probe.jsonl"))}
r = analyze_dataset(fresh_draws_dir=str(sample / "fresh_draws"),
                    transport=TransportAuditConfig(probes_by_policy=probes, delta_max_by_policy={p: 0.05 for p in probes}))
v = r.best_policy()
print(json.dumps({"best": v.name, "ready": v.decision_ready, "unverified": sorted(r.metadata["transport_unverified"]),
                  "transport": {p: a["status"] for p, a in r.metadata["transport_audits"].items()},
                  "cards": {p: c["status"] for p, c in r.metadata["boundary_cards"].items()}}))
"""


def test_the_decision_on_the_bundled_sample_is_cje_eval_0_9s(sample_warehouse):
    """0.9.3 on the sample's fresh draws and probes (delta_max 0.05): parallel_universe_prompt is
    best, not decision-ready, blocked by the policies whose calibration transfer is unverified."""
    theirs = run_09(DECISION_09, str(SAMPLE))
    wh, _ = sample_warehouse
    decision = wh.query("SELECT * FROM cje.decision").iloc[0]
    assert decision.best_policy == theirs["best"] and not decision.decision_ready and not theirs["ready"]
    assert sorted(decision.blocking_policies) == theirs["unverified"]
    audits = dict(wh.query("SELECT policy, status FROM cje.transport_audits").itertuples(index=False))
    assert audits == {p: s for p, s in theirs["transport"].items() if p != "base"}
    cards = dict(wh.query("SELECT policy, status FROM cje.boundary_cards").itertuples(index=False))
    assert cards == theirs["cards"]
    assert decision.note.startswith("Not decision-ready: ") and "unverified" in decision.note


def _estimates(values: dict, withheld=()) -> pd.DataFrame:
    return pd.DataFrame({"policy": list(values), "v_hat": [np.nan if p in withheld else v for p, v in values.items()],
                         "reason": ["withheld here" if p in withheld else None for p in values]})


def _pairs(diffs: dict) -> pd.DataFrame:
    return pd.DataFrame([{"policy_a": a, "policy_b": b, "diff": d, "p_holm": p} for (a, b), (d, p) in diffs.items()])


NO_RAILS = pd.DataFrame(columns=["rule", "subject", "estimator"])


def test_each_decision_rule_fires():
    values = {"base": 0.5, "a": 0.7, "b": 0.6}
    clear = _pairs({("a", "base"): (0.2, 0.001), ("a", "b"): (0.1, 0.01), ("b", "base"): (0.1, 0.02)})
    passed = {"a": "PASS", "b": "PASS"}
    ready = decide(_estimates(values), clear, {}, passed, NO_RAILS, "base", "direct")
    assert (ready.best_policy, ready.decision_ready, ready.blocking_policies) == ("a", True, [])
    # a REFUSE-LEVEL leader is demoted, and a demotion is never a decision
    demoted = decide(_estimates(values), clear, {"a": "REFUSE-LEVEL"}, passed, NO_RAILS, "base", "direct")
    assert (demoted.best_policy, demoted.demoted_policy, demoted.decision_ready) == ("b", "a", False)
    # borrowed calibration unverified (b's audit inconclusive) blocks, naming b
    borrowed = decide(_estimates(values), clear, {}, {"a": "PASS", "b": "INCONCLUSIVE"}, NO_RAILS, "base", "direct")
    assert not borrowed.decision_ready and borrowed.blocking_policies == ["b"] and "b INCONCLUSIVE" in borrowed.note
    # a policy whose direct estimate is augmented by labels of its own borrows nothing: not blocking
    augmented = _estimates(values).assign(route=["augmented", "plug_in", "augmented"])
    own = decide(augmented, clear, {}, {"a": "PASS", "b": "INCONCLUSIVE"}, NO_RAILS, "base", "direct")
    assert own.decision_ready and own.blocking_policies == []
    # not beating a rival blocks; a withheld estimate blocks
    tied = decide(_estimates(values), _pairs({("a", "base"): (0.2, 0.001), ("a", "b"): (0.1, 0.3)}), {}, passed,
                  NO_RAILS, "base", "direct")
    assert not tied.decision_ready and "does not beat b (Holm p 0.3)" in tied.note
    withheld = decide(_estimates(values, withheld=["b"]), clear, {}, passed, NO_RAILS, "base", "direct")
    assert not withheld.decision_ready and withheld.blocking_policies == ["b"]
    # under cal_ips a weight guard rail demotes; under dr it blocks without demoting; under direct it is moot
    rails = pd.DataFrame([{"rule": "low_ess", "subject": "a", "estimator": None}])
    assert decide(_estimates(values), clear, {}, passed, rails, "base", "cal_ips").best_policy == "b"
    dr = decide(_estimates(values), clear, {}, passed, rails, "base", "dr")
    assert dr.best_policy == "a" and not dr.decision_ready and dr.blocking_policies == ["a"]
    assert decide(_estimates(values), clear, {}, passed, rails, "base", "direct").decision_ready
    # every policy flagged: the leader is named, not crowned
    flagged = decide(_estimates(values), clear, {p: "REFUSE-LEVEL" for p in values}, passed, NO_RAILS, "base", "direct")
    assert flagged.best_policy == "a" and not flagged.decision_ready and "every policy is flagged" in flagged.note


def test_a_wrong_margin_is_refused_naming_its_key_and_keeps_the_tables_before_it(settings_file):
    """A negative --delta-max stops the command before any run; a negative delta_max in the UI's run
    config stops the audit step naming the key, the tables written before it kept."""
    from resources.warehouse import Warehouse
    from vibescope.__main__ import main

    with pytest.raises(SystemExit, match=r"--delta-max is a margin on the reward scale, 0 or above, got -0.1"):
        main(["cje", str(SAMPLE / "logged_data.jsonl"), "--delta-max", "-0.1"])
    assert not Warehouse().table_exists("cje.policies")  # nothing ran
    import dagster as dg

    from resources import build_resources
    from tests.cje.conftest import cje_assets

    assets, checks = cje_assets()
    result = dg.materialize([*assets, *checks], resources=build_resources(str(settings_file)), raise_on_error=False,
                            run_config={"ops": {"cje__transport_audits": {"config": {"delta_max": -0.1}}}})
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "cje__transport_audits"
    assert "cje__transport_audits.delta_max is a margin on the reward scale, 0 (none) or above; got -0.1" in \
        failure.event_specific_data.error.cause.message
    assert Warehouse().table_exists("cje.calibrated_rewards") and not Warehouse().table_exists("cje.transport_audits")
