"""The rubric: every battle scored on every behaviour in both answer orders (arena.behaviour_scores
-> behaviour_verdicts -> behaviour_fits / behaviour_effects, and the style_rubric ratings).

Ground truth comes from the fictional set (assets/arena/fictional.py): `summary` is planted in the
responses' text with a known effect on winning and never in the properties the planted describer
reads. Stand-in scorers are OpenAI-compatible servers on 127.0.0.1 (a third-party model's part),
read through the real `openai` client; every expected figure is derived here or by scikit-learn."""

import json
import re
import zlib

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score

from assets.arena import fictional
from resources import build_resources
from resources.warehouse import Warehouse
from tests.arena.conftest import GIVEN
from tests.conftest import write_settings
from tests.helpers.json_server import JsonHandler, completion, serving

N = 200  # fictional battles of the rubric-alone runs


def independent_logit(battles: pd.DataFrame, difference: pd.Series) -> float:
    """scikit-learn's unpenalised fit of A-won on +-1 model indicators (one left out) and the difference."""
    decided = battles[battles.winner.isin(["model_a", "model_b"])]
    models = sorted(set(decided.model_a) | set(decided.model_b))
    x = (pd.get_dummies(decided.model_a).reindex(columns=models, fill_value=0).astype(float)
         - pd.get_dummies(decided.model_b).reindex(columns=models, fill_value=0).astype(float))[models[1:]]
    x["d"] = difference.reindex(decided.battle_id).to_numpy(float)
    fit = LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-12, max_iter=100_000)
    fit.fit(x.to_numpy(), (decided.winner == "model_a").to_numpy(int))
    return float(fit.coef_[0][-1])


def test_the_rubric_finds_what_the_describer_never_mentions(fictional_warehouse):
    wh = fictional_warehouse
    effects = wh.query("SELECT * FROM arena.behaviour_effects").set_index("behaviour")
    summary = effects.loc["summary"]
    # measured: the planted effect inside its interval, and found after Holm
    assert summary.ci_low < fictional.SUMMARY_EFFECT < summary.ci_high and summary.p_holm < 0.05
    # mentioned: nothing, since no property ever describes it (the mention counts cannot see it)
    assert pd.isna(summary.mentioned_coefficient)
    mentions = wh.query("SELECT count(*) AS n FROM arena.behavior_properties "
                        "WHERE property_description ILIKE '%short%' OR property_description ILIKE '%summar%'")
    assert mentions.n[0] == 0
    # a behaviour that only one model shows is not identified once the models are held fixed, and
    # model identity says who shows it, the other models below zero
    assert effects.loc["apologetic"].error.startswith("not identified") and pd.isna(effects.loc["apologetic"].coefficient)
    who = wh.query("SELECT * FROM arena.behaviour_model_scores WHERE behaviour = 'apologetic'").set_index("model")
    assert who.loc["fictional-apologetic"].mean_score == 1 and (who.drop("fictional-apologetic").ci_high < 0).all()
    # the planted scorer reads the text: both orders always agree
    bias = wh.query("SELECT * FROM arena.behaviour_position_bias")
    assert (bias.follows_position == 0).all() and (bias.consistent == bias.battles).all()


def test_fits_and_kappa_equal_independent_implementations(fictional_warehouse):
    wh = fictional_warehouse
    battles = wh.query("SELECT battle_id, model_a, model_b, winner FROM arena.battles")
    verdicts = wh.query("SELECT battle_id, behaviour, verdict FROM arena.behaviour_verdicts WHERE verdict IS NOT NULL")
    fits = wh.query("SELECT * FROM arena.behaviour_fits WHERE coefficient IS NOT NULL")
    measured = fits[fits.basis == "measured"]
    assert "summary" in set(measured.behaviour)
    for f in measured.itertuples():
        one = verdicts[verdicts.behaviour == f.behaviour].set_index("battle_id").verdict
        assert abs(independent_logit(battles[battles.battle_id.isin(one.index)], one) - f.coefficient) < 1e-4
    rubric = wh.query("SELECT behaviour, cluster_id FROM arena.rubric_behaviours WHERE source = 'clusters'")
    mentions = wh.query("SELECT battle_id, cluster, difference FROM arena.rating_behaviours")
    kappas = wh.query("SELECT behaviour, kappa FROM arena.behaviour_effects").set_index("behaviour").kappa
    for r in rubric.itertuples():
        said = mentions[mentions.cluster == str(r.cluster_id)].set_index("battle_id").difference
        one = verdicts[verdicts.behaviour == r.behaviour].set_index("battle_id").verdict
        mention = np.sign(said.reindex(one.index).fillna(0)).astype(int)
        expected = cohen_kappa_score(mention, one.astype(int))
        assert abs(kappas[r.behaviour] - expected) < 1e-9 or (np.isnan(expected) and pd.isna(kappas[r.behaviour]))
        fit = fits[(fits.behaviour == r.behaviour) & (fits.basis == "mentioned")]
        if len(fit):
            assert abs(independent_logit(battles, said.reindex(battles.battle_id).fillna(0).set_axis(battles.battle_id))
                       - fit.coefficient.iloc[0]) < 1e-4


def stand_in(answer) -> type[JsonHandler]:
    """A scorer server: `answer(first, second, names)` -> {key: A | B | equal} for the responses as shown."""

    class Scorer(JsonHandler):
        def do_GET(self):  # the model list the client may ask for first
            self.send_json(200, {"object": "list", "data": [{"id": "stand-in", "object": "model"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            text = body["messages"][-1]["content"]
            first = text.split("Response A:\n", 1)[1].split("\n\nResponse B:\n", 1)[0]
            second = text.split("\n\nResponse B:\n", 1)[1].split("\n\nFor each behaviour", 1)[0]
            names = dict(re.findall(r"^(b\d+): (\S+)", text, re.M))
            self.send_json(200, completion(json.dumps(answer(first, second, names)), body["model"]))

    return Scorer


def truth(first: str, second: str, names: dict) -> dict:
    return {k: fictional.planted_answer(fictional.planted_key(n), first, second) for k, n in names.items()}


def position_follower(first: str, second: str, names: dict) -> dict:
    """The first slot for every behaviour in the battles whose responses hash into 3 of 10 buckets."""
    follows = zlib.crc32((min(first, second) + max(first, second)).encode()) % 10 < 3
    return {k: "A" for k in names} if follows else truth(first, second, names)


def alone_run(folder, server=None, n: int = N) -> Warehouse:
    """The user's behaviours alone (no describer) on n fictional battles, both for the rubric and the
    ratings; the scorer planted, or a stand-in server's."""
    settings = write_settings(folder / "dagster_project.toml")
    if server is not None:
        text = settings.read_text().replace("[roles.scorer]", f'[roles.scorer]\nbackend = "openai"\nmodel = "stand-in"\n'
                                            f'base_url = "http://127.0.0.1:{server.server_port}/v1"', 1)
        settings.write_text(text)
    (folder / "behaviours.yaml").write_text(GIVEN)
    battles = {"dataset": "fictional", "num_samples": n}
    run = {"ops": {"arena__battles": {"config": battles}, "arena__response_style": {"config": battles},
                   "arena__battle_differences": {"config": {"describer_source": "none"}},
                   "arena__rubric_behaviours": {"config": {"behaviours_path": str(folder / "behaviours.yaml"),
                                                           "discovered": False}},
                   "arena__behaviour_scores": {"config": {"scorer_source": "llm" if server else "planted"}}}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIBESCOPE_SETTINGS", str(settings))
        import definitions

        result = dg.materialize([*definitions.defs.assets], resources=build_resources(str(settings)),
                                selection=dg.AssetSelection.groups("arena"), run_config=run)
    assert result.success
    return Warehouse(settings_file=str(settings))


@pytest.mark.slow
def test_the_rubric_goes_through_a_batch_file_answered_on_the_embedded_model(tmp_path, monkeypatch, capsys):
    """`vibescope batch write arena/behaviour_scores`, `run-locally`, write again: the verdicts are in."""
    from vibescope.__main__ import main

    wh = alone_run(tmp_path, n=4)
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(tmp_path / "dagster_project.toml"))
    capsys.readouterr()
    main(["batch", "write", "arena/behaviour_scores"])
    assert "requested 8, answered 0" in capsys.readouterr().out  # 4 battles, both orders, one call each
    main(["batch", "run-locally"])
    assert "ok 8, failed 0" in capsys.readouterr().out
    main(["batch", "write", "arena/behaviour_scores"])
    assert "the asset completed" in capsys.readouterr().out
    scores = wh.query("SELECT battle_id, answer_order, count(*) AS n, bool_and(answer IS NOT NULL OR error IS NOT NULL) "
                      "AS kept FROM arena.behaviour_scores GROUP BY ALL")
    assert len(scores) == 8 and (scores.n == 2).all() and scores.kept.all()


@pytest.mark.slow
def test_measured_behaviours_in_the_ratings_equal_scikit_learn_and_hold_the_planted_effect(tmp_path):
    wh = alone_run(tmp_path)
    assert wh.query("SELECT count(*) AS n FROM arena.behavior_properties").n[0] == 0  # no describer ran
    coefficients = wh.query("SELECT * FROM arena.rating_coefficients WHERE control = 'style_rubric'")
    summary = coefficients[coefficients.covariate == "measured summary"].iloc[0]
    assert summary.ci_low < fictional.SUMMARY_EFFECT < summary.ci_high
    # the same Bradley-Terry likelihood by scikit-learn: ln 10 per model indicator, the style
    # columns and the verdicts, a tie half a win each way (as FastChat weights it)
    battles = wh.query("SELECT * FROM arena.rating_battles ORDER BY battle_id")
    verdicts = wh.query("SELECT battle_id, behaviour, verdict FROM arena.behaviour_verdicts WHERE verdict <> 0")
    wide = verdicts.pivot(index="battle_id", columns="behaviour", values="verdict").reindex(battles.battle_id).fillna(0)
    models = sorted(set(battles.model_a) | set(battles.model_b))
    x = np.log(10) * (pd.get_dummies(battles.model_a).reindex(columns=models, fill_value=0).to_numpy(float)
                      - pd.get_dummies(battles.model_b).reindex(columns=models, fill_value=0).to_numpy(float))
    design = np.hstack([x, battles[["length", "headers", "lists", "bold"]].to_numpy(float), wide.to_numpy(float)])
    won = battles.winner.map({"model_a": 1.0, "model_b": 0.0, "tie": 0.5}).to_numpy()
    keep = won != 0.5
    rows = np.vstack([design, design[~keep]])  # a tie: once lost, once won, each at weight 1
    y = np.r_[(won == 1).astype(int), np.ones((~keep).sum(), int)]
    weights = np.r_[np.where(keep, 2.0, 1.0), np.ones((~keep).sum())]
    fit = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-12, max_iter=100_000).fit(rows, y, sample_weight=weights)
    by_name = dict(zip([f"measured {c}" for c in wide.columns], fit.coef_[0][len(models) + 4:]))
    for c in coefficients[coefficients.covariate.str.startswith("measured ")].itertuples():
        assert abs(c.coefficient - by_name[c.covariate]) < 1e-4, c.covariate


@pytest.mark.slow
def test_a_scorer_that_always_answers_a_is_all_inconsistent_and_moves_no_rating(tmp_path):
    with serving(stand_in(lambda first, second, names: {k: "A" for k in names})) as server:
        wh = alone_run(tmp_path, server)
    bias = wh.query("SELECT * FROM arena.behaviour_position_bias")
    assert (bias.answered == N).all() and (bias.inconsistent == N).all() and (bias.position_bias_rate == 1).all()
    assert wh.query("SELECT count(*) AS n FROM arena.behaviour_verdicts WHERE verdict IS NOT NULL").n[0] == 0
    ratings = wh.query("SELECT control, model, rating, ci_low, ci_high FROM arena.model_ratings "
                       "WHERE category = 'all' AND rated ORDER BY model")
    style, rubric = (ratings[ratings.control == c].set_index("model") for c in ("style", "style_rubric"))
    assert len(style) == 4 and np.allclose(style[["rating", "ci_low", "ci_high"]], rubric[["rating", "ci_low", "ci_high"]])
    assert wh.query("SELECT count(*) AS n FROM arena.rating_coefficients WHERE covariate LIKE 'measured %'").n[0] == 0


@pytest.mark.slow
def test_a_scorer_that_follows_the_position_in_30_percent_is_measured_at_30_percent(tmp_path):
    with serving(stand_in(position_follower)) as server:
        wh = alone_run(tmp_path, server)
    battles = wh.query("SELECT response_a, response_b FROM arena.battles")
    expected = sum(zlib.crc32((min(a, b) + max(a, b)).encode()) % 10 < 3 for a, b in zip(battles.response_a, battles.response_b))
    bias = wh.query("SELECT * FROM arena.behaviour_position_bias")
    assert (bias.follows_position == expected).all() and (bias.answered == N).all()
    assert ((bias.position_bias_ci_low < 0.3) & (0.3 < bias.position_bias_ci_high)).all()
    summary = wh.query("SELECT * FROM arena.behaviour_effects WHERE behaviour = 'summary'").iloc[0]
    assert summary.battles < N and summary.ci_low < fictional.SUMMARY_EFFECT < summary.ci_high


def test_the_demo_says_what_the_scorer_did(fictional_warehouse, capsys):
    from resources.reader import open_reader
    from resources.settings import load_settings
    from vibescope.findings import print_rubric_check

    bias = fictional_warehouse.query("SELECT sum(battles) AS n, sum(consistent) AS c FROM arena.behaviour_position_bias")
    with open_reader(load_settings(fictional_warehouse.settings_file)) as con:
        print_rubric_check(con)
    assert f"{int(bias.c[0])} of {int(bias.n[0])} verdicts consistent, 0 followed the position" in capsys.readouterr().out


@pytest.mark.parametrize("step, config, said", [
    ("arena__rubric_behaviours", {"discovered": False}, "discovered is false and no behaviours_path: nothing to score"),
    ("arena__rubric_behaviours", {"behaviours_path": "/nonexistent/b.yaml"}, "/nonexistent/b.yaml: cannot read"),
    ("arena__behaviour_scores", {"scorer_source": "oracle"}, "scorer_source 'oracle'; valid: llm, planted"),
])
def test_a_wrong_rubric_config_is_refused_and_the_tables_stay(fictional_warehouse, step, config, said):
    import definitions

    table = "arena." + step.split("__")[1]
    before = fictional_warehouse.query(f"SELECT * FROM {table} ORDER BY ALL")
    result = dg.materialize([*definitions.defs.assets], resources=build_resources(fictional_warehouse.settings_file),
                            selection=[table.replace(".", "/")], raise_on_error=False,
                            run_config={"ops": {step: {"config": config}}})
    assert not result.success
    assert said in result.get_step_failure_events()[0].event_specific_data.error.cause.message
    pd.testing.assert_frame_equal(fictional_warehouse.query(f"SELECT * FROM {table} ORDER BY ALL"), before)
