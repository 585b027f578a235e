"""Which model is better: Bradley-Terry ratings against an independent fit written here the way
FastChat's `compute_mle_elo` writes it, style control and behaviour control on planted cases
whose answer is known, rank ranges from intervals, and seeded bootstraps that repeat exactly."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from analysis.ratings import bootstrap, fit, rank_range, rated
from analysis.ratings import ratings_of
from resources.datasets import SAMPLES_DIR


def fastchat_mle(df: pd.DataFrame, scale=400, base=10, init=1000) -> pd.Series:
    """FastChat's compute_mle_elo, written out: wins and ties per ordered pair of models (a win
    twice, a tie once each way), one logistic regression row per pair and direction, no intercept,
    no penalty; tolerance tightened so that both fits converge to the same optimum."""
    models = sorted(set(df.model_a) | set(df.model_b))
    wins = pd.DataFrame(0.0, index=models, columns=models)
    for r in df.itertuples():
        if r.winner == "model_a":
            wins.loc[r.model_a, r.model_b] += 2
        elif r.winner == "model_b":
            wins.loc[r.model_b, r.model_a] += 2
        else:
            wins.loc[r.model_a, r.model_b] += 1
            wins.loc[r.model_b, r.model_a] += 1
    x, y, w = [], [], []
    for i, ma in enumerate(models):
        for j, mb in enumerate(models):
            if i == j:
                continue
            row = np.zeros(len(models))
            row[i], row[j] = math.log(base), -math.log(base)
            x += [row, row]
            y += [1.0, 0.0]
            w += [wins.loc[ma, mb], wins.loc[mb, ma]]
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10, max_iter=10_000)
    lr.fit(np.array(x), np.array(y), sample_weight=np.array(w))
    return pd.Series(scale * lr.coef_[0] + init, index=models)


def sample_battles() -> pd.DataFrame:
    raw = pd.read_csv(SAMPLES_DIR / "arena" / "lmsys_arena55k_sample.csv")
    winner = np.select([raw.winner_model_a == 1, raw.winner_model_b == 1], ["model_a", "model_b"], "tie")
    return pd.DataFrame({"battle_id": raw["id"].astype(str), "model_a": raw.model_a, "model_b": raw.model_b,
                         "winner": winner})


def arrays(df: pd.DataFrame, models: list[str]):
    index = {m: i for i, m in enumerate(models)}
    outcome = df.winner.map({"model_a": 1.0, "model_b": 0.0}).fillna(0.5).to_numpy()
    return df.model_a.map(index).to_numpy(), df.model_b.map(index).to_numpy(), outcome


class Config:
    bootstrap_rounds, seed, min_battles, anchor = 20, 7, 20, ""


def test_ratings_equal_an_independent_fit_on_the_bundled_battles():
    battles = sample_battles()
    rows, _ = ratings_of(battles, None, [], Config)
    ours = rows[rows.rated].set_index("model").rating
    kept = battles[battles.model_a.isin(ours.index) & battles.model_b.isin(ours.index)]
    reference = fastchat_mle(kept)
    reference += 1000 - reference[ours.index].mean()  # our anchor: the mean of the rated models at 1000
    assert len(ours) >= 10
    np.testing.assert_allclose(ours.sort_index(), reference[ours.index].sort_index(), atol=0.01)
    # the rule: every rated model has min_battles among the rated and both a win and a loss there
    counts = pd.concat([kept.model_a, kept.model_b]).value_counts()
    assert (counts[ours.index] >= Config.min_battles).all()
    assert set(rows.model) == set(battles.model_a) | set(battles.model_b)  # the rest are listed, not dropped
    assert rows.loc[~rows.rated, "rating"].isna().all()


def test_style_control_equals_scikit_learn_on_the_same_battles():
    """The covariate fit (Newton's method, analysis/ratings.py) against scikit-learn's unpenalised
    logistic regression on FastChat's design: each battle as an A-won row and a B-won row weighted
    2/0 for a win and 1/1 for a tie, +-ln 10 model columns and the style columns, no intercept."""
    battles = sample_battles()
    models = sorted(set(battles.model_a) | set(battles.model_b))
    a, b, outcome = arrays(battles, models)
    keep = rated(a, b, outcome, len(models), Config.min_battles)
    among = keep[a] & keep[b]
    kept = [m for m, k in zip(models, keep) if k]
    sub = np.cumsum(keep) - 1
    a, b, outcome = sub[a[among]], sub[b[among]], outcome[among]
    x = np.random.default_rng(0).normal(size=(len(a), 3)) + 0.5 * (outcome - 0.5)[:, None]  # a covariate that matters
    ours, _ = fit(a, b, outcome, kept, x, ["s1", "s2", "s3"])

    design = np.zeros((2 * len(a), len(kept) + 3))
    rows = np.arange(len(a))
    for half in (0, 1):
        design[half * len(a) + rows, a] = math.log(10)
        design[half * len(a) + rows, b] = -math.log(10)
        design[half * len(a):(half + 1) * len(a), len(kept):] = x
    y = np.r_[np.ones(len(a)), np.zeros(len(a))]
    w = np.r_[np.where(outcome == 1, 2.0, np.where(outcome == 0, 0.0, 1.0)),
              np.where(outcome == 0, 2.0, np.where(outcome == 1, 0.0, 1.0))]
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-12, max_iter=100_000).fit(design, y, sample_weight=w)
    reference = 400 * lr.coef_[0][: len(kept)]
    np.testing.assert_allclose(ours.ratings.to_numpy(), reference - reference.mean() + 1000, atol=0.01)
    np.testing.assert_allclose(ours.coefficients.to_numpy(), lr.coef_[0][len(kept):], atol=1e-5)
    assert ours.coefficients.min() > 0.1  # the planted dependence is found


def test_a_seeded_bootstrap_repeats_exactly_and_its_ranks_follow_the_intervals():
    battles = sample_battles()
    first, _ = ratings_of(battles, None, [], Config)
    second, _ = ratings_of(battles, None, [], Config)
    pd.testing.assert_frame_equal(first, second)
    shown = first[first.rated].set_index("model")
    assert (shown.ci_low <= shown.rating).all() and (shown.rating <= shown.ci_high).all()
    # derived from the definition: rank = 1 + models whose interval lies wholly above this one's
    for model, r in shown.iterrows():
        assert r["rank"] == 1 + (shown.ci_low > r.ci_high).sum()
        assert r["rank_high"] == (shown.ci_high >= r.ci_low).sum()


def planted_battles(seed: int, n: int = 3000):
    """Four fictional models of equal strength; `verbose` writes the longer answer 80% of the
    time, and the longer answer wins with odds e^1.5, whoever wrote it."""
    rng = np.random.default_rng(seed)
    models = ["verbose", "m1", "m2", "m3"]
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    longer_a = np.where(a == 0, rng.random(n) < 0.8, np.where(b == 0, rng.random(n) < 0.2, rng.random(n) < 0.5))
    length = np.where(longer_a, 1.0, -1.0)
    p_a = 1 / (1 + np.exp(-1.5 * length))
    outcome = (rng.random(n) < p_a).astype(float)
    return models, a, b, outcome, length


def test_style_control_moves_the_long_answering_model_down_and_prices_length():
    models, a, b, outcome, length = planted_battles(1)
    plain, _ = fit(a, b, outcome, models)
    styled, _ = fit(a, b, outcome, models, covariates=length.reshape(-1, 1), covariate_names=["length"])
    assert plain.ratings["verbose"] > max(plain.ratings[m] for m in models[1:]) + 100  # length looks like skill
    assert styled.coefficients["length"] == pytest.approx(1.5, abs=0.2)  # the planted log-odds
    assert styled.ratings["verbose"] < plain.ratings["verbose"] - 100
    assert abs(styled.ratings["verbose"] - styled.ratings[["m1", "m2", "m3"]].mean()) < 40  # equal strength


def test_behaviour_control_prices_a_planted_behaviour():
    """The same, with a behaviour in place of length: `m1` shows it (one side only: +1 or -1), it
    wins with odds e^1.0, and the style covariate (noise here) is worth nothing."""
    rng = np.random.default_rng(3)
    models, a, b, _, _ = planted_battles(3)
    shows = np.where(a == 1, 1.0, np.where(b == 1, -1.0, 0.0)) * (rng.random(len(a)) < 0.7)
    noise = rng.normal(size=len(a))
    outcome = (rng.random(len(a)) < 1 / (1 + np.exp(-1.0 * shows))).astype(float)
    x = np.c_[noise, shows]
    full, boot_r, boot_c = bootstrap(a, b, outcome, models, x, ["length", "behaviour 0"], rounds=30, seed=5)
    plain, _ = fit(a, b, outcome, models)
    assert full.coefficients["behaviour 0"] == pytest.approx(1.0, abs=0.2)
    low, high = boot_c.quantile(0.025), boot_c.quantile(0.975)
    assert low["length"] < 0 < high["length"] and low["behaviour 0"] > 0
    assert full.ratings["m1"] < plain.ratings["m1"] - 50


def test_models_that_never_lose_or_barely_played_are_listed_not_rated():
    models = ["a", "b", "c", "d"]
    # a and b win and lose against each other; c played 4 battles; d won all 30 of its battles
    pairs = [(0, 1, 1.0), (1, 0, 1.0), (0, 1, 0.0), (1, 0, 0.0)] * 10 + [(2, 0, 1.0), (2, 1, 0.0)] * 2 + [(3, 0, 1.0)] * 30
    a, b, outcome = (np.array(v) for v in zip(*pairs))
    keep = rated(a, b, outcome, len(models), min_battles=20)
    assert dict(zip(models, keep)) == {"a": True, "b": True, "c": False, "d": False}
    ranks = rank_range(pd.Series([1000.0, 990.0, 900.0]), pd.Series([1100.0, 1050.0, 950.0]))
    assert ranks["rank"].tolist() == [1, 1, 3] and ranks["rank_high"].tolist() == [2, 2, 3]


def test_an_anchor_that_is_no_model_is_refused_and_the_last_ratings_stay(settings_file):
    import dagster as dg

    from assets.arena.model_ratings import model_ratings
    from resources import build_resources
    from resources.warehouse import Warehouse

    battles = sample_battles().assign(broad_category=None, length=0.0, headers=0.0, lists=0.0, bold=0.0)

    read = ("rating_battles", "rating_behaviours", "behaviour_verdicts", "behaviour_scores")

    @dg.multi_asset(specs=[dg.AssetSpec(["arena", t]) for t in read])
    def inputs(warehouse: Warehouse):
        none = {c: pd.Series(dtype=t) for c, t in (("battle_id", str), ("cluster", str), ("difference", int))}
        warehouse.write_tables({"arena.rating_battles": battles, "arena.rating_behaviours": pd.DataFrame(none),
                                "arena.behaviour_verdicts": pd.DataFrame(none).rename(
                                    columns={"cluster": "behaviour", "difference": "verdict"}),
                                "arena.behaviour_scores": pd.DataFrame({"battle_id": pd.Series(dtype=str)})})
        for t in read:
            yield dg.MaterializeResult(asset_key=["arena", t])

    resources = build_resources(str(settings_file))
    rounds = {"bootstrap_rounds": 5}
    assert dg.materialize([inputs, model_ratings], resources=resources,
                          run_config={"ops": {"arena__model_ratings": {"config": rounds}}}).success
    before = Warehouse().query("SELECT * FROM arena.model_ratings ORDER BY ALL")
    bad = dg.materialize([inputs, model_ratings], resources=resources, raise_on_error=False, run_config={
        "ops": {"arena__model_ratings": {"config": {**rounds, "anchor": "gpt-5-turbo"}}}})
    message = bad.get_step_failure_events()[0].event_specific_data.error.cause.message
    assert "arena__model_ratings.anchor 'gpt-5-turbo' is no model of the battles" in message and "claude-1" in message
    pd.testing.assert_frame_equal(Warehouse().query("SELECT * FROM arena.model_ratings ORDER BY ALL"), before)
