"""Boundary cards and transport audits (cje.boundary_cards, cje.transport_audits) against cje-eval
0.9.3's own functions (boundary_card, audit_transportability) in their own venv, fed the same
judge scores, rewards and probes; each status made to fire on real tables or generated residuals."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from analysis.cje_transport import audit
from tests.cje.conftest import SAMPLE, materialize_cje
from tests.conftest import ROOT

REFERENCE_09 = ROOT / ".venv-cje09" / "bin" / "python"

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


def reference(spec: dict) -> dict:
    if not REFERENCE_09.exists():
        pytest.fail(f"{REFERENCE_09} missing: `make test` installs cje-eval 0.9.3 there")
    out = subprocess.run([str(REFERENCE_09), "-c", REFERENCE], input=json.dumps(spec), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


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
    theirs = reference(spec)

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
    theirs = reference({"labelled_range": [0, 1], "reward_range": [0, 1], "cards": {}, "audits": specs})["audits"]
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
