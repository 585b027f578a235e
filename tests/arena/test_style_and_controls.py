"""Arena's views that need no LLM and its describer control: the style table of the 999 bundled
battles and the evidence-quote check, each against pandas and statsmodels."""

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from analysis.style import FEATURES, SIZES, style_features
from assets.arena.battles import load_battles
from assets.arena.config import StyleConfig
from resources.datasets import Datasets
from resources.sql_functions import register_udfs
from tests.conftest import ROOT


def test_style_metrics_of_the_999_bundled_battles_equal_pandas_and_statsmodels(fictional_warehouse):
    wh = fictional_warehouse
    got = wh.query("SELECT * FROM arena.model_style_metrics").set_index(["feature", "model"])
    battles = load_battles(StyleConfig(), Datasets())
    assert len(battles) == 999 == wh.query("SELECT count(DISTINCT battle_id) AS n FROM arena.response_style").n[0]
    models = set(battles.model_a) | set(battles.model_b)
    assert set(got.index.get_level_values("model")) == models
    assert set(got.index.get_level_values("feature")) == set(FEATURES)
    # re-derived from the texts: each side's features, its outcome, "shows" as analysis/style.py defines it
    sides = []
    for b in battles.itertuples():
        fa, fb = style_features(b.response_a), style_features(b.response_b)
        for model, mine, theirs, won in ((b.model_a, fa, fb, "model_a"), (b.model_b, fb, fa, "model_b")):
            outcome = "tie" if b.winner == "tie" else ("win" if b.winner == won else "loss")
            sides.append({"model": model, "outcome": outcome, **{f: mine[f] for f in FEATURES},
                          **{f"longer_{f}": mine[f] > theirs[f] for f in SIZES}})
    sides = pd.DataFrame(sides)
    shows = {f: sides[f] > 0 for f in FEATURES} | {f: sides[f"longer_{f}"] for f in SIZES}
    for model in sorted(models, key=lambda m: -(sides.model == m).sum())[:3]:
        mine = sides.model == model
        p_values = {}
        for feature in FEATURES:
            decided = mine & (sides.outcome != "tie")
            w, wo = decided & shows[feature], decided & ~shows[feature]
            kw, kwo = int((w & (sides.outcome == "win")).sum()), int((wo & (sides.outcome == "win")).sum())
            if w.sum() and wo.sum() and 0 < (kw + kwo) / (w.sum() + wo.sum()) < 1:
                p_values[feature] = proportions_ztest([kw, kwo], [w.sum(), wo.sum()])[1]
            row = got.loc[(feature, model)]
            assert row.mean_value == pytest.approx(sides.loc[mine, feature].mean())
            assert row.rate == pytest.approx(shows[feature][mine].mean())
            if w.sum() and wo.sum():
                assert row.win_rate_delta == pytest.approx(kw / w.sum() - kwo / wo.sum())
        holm = dict(zip(p_values, multipletests(list(p_values.values()), method="holm")[1]))
        for feature in ("list_items", "chars"):
            if feature in holm:
                assert got.loc[(feature, model)].p_holm == pytest.approx(holm[feature], rel=1e-9)
        assert got.xs(model, level="model").p_holm.notna().sum() == len(holm)


def test_describer_control_counts_quotes_and_equals_statsmodels_mcnemar():
    """sql/arena/describer_grounding.sql and describer_control.sql on bundled battles with evidence
    quoted from the attributed response, from the other one, and made up."""
    battles = load_battles(StyleConfig(), Datasets()).head(60)
    rng = np.random.default_rng(0)
    rows, expected = [], []
    for i, b in enumerate(battles.itertuples()):
        side = "A" if i % 2 else "B"
        own, other = (b.response_a, b.response_b) if side == "A" else (b.response_b, b.response_a)
        source = rng.choice(["own", "other", "made up"], p=[0.6, 0.25, 0.15])
        text = {"own": own, "other": other, "made up": "zebras paint the moon at noon"}[source]
        start = int(rng.integers(0, max(1, len(text) - 40)))
        quote = "  ".join(text[start:start + 40].split()).upper()  # case and spacing differ from the text
        norm = lambda t: " ".join(t.lower().split())  # noqa: E731
        if i % 5 == 0:  # LMM-Vibes' form: quoted fragments in one item, one cut by an ellipsis
            first, second = own[:30].replace('"', ""), other[-60:].replace('"', "")
            item = f'"{first}" and "{second[:25]}...{second[25:]}"'
            quotes = [first, second[:25], second[25:]]
        else:
            item, quotes = quote, [quote]
        rows.append({"property_id": f"{b.battle_id}:0", "battle_id": b.battle_id, "side": side,
                     "evidence": json.dumps([item, "short"])})  # "short": under 8 characters, left out
        expected += [(norm(q) in norm(own), norm(q) in norm(other)) for q in quotes if len(norm(q)) >= 8]
    con = duckdb.connect()
    register_udfs(con)
    con.execute("CREATE SCHEMA arena")
    con.register("props", pd.DataFrame(rows))
    con.register("bat", battles[["battle_id", "response_a", "response_b"]])
    con.execute("CREATE TABLE arena.behavior_properties AS SELECT * FROM props")
    con.execute("CREATE TABLE arena.battles AS SELECT * FROM bat")
    con.execute("CREATE TABLE arena.describer_grounding AS "
                + (ROOT / "sql/arena/describer_grounding.sql").read_text())
    grounding = con.execute("SELECT in_own, in_other FROM arena.describer_grounding ORDER BY battle_id").df()
    assert sorted(map(tuple, grounding.to_numpy().tolist())) == sorted(expected)
    assert len(expected) > 70  # the fragments counted one by one
    control = con.execute((ROOT / "sql/arena/describer_control.sql").read_text()).df().iloc[0]
    own_only = sum(o and not t for o, t in expected)
    other_only = sum(t and not o for o, t in expected)
    both = sum(o and t for o, t in expected)
    table = [[both, own_only], [other_only, len(expected) - both - own_only - other_only]]
    assert (control.quotes, control.own_only, control.other_only) == (len(expected), own_only, other_only)
    assert control.mcnemar_p_value == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-9)
    assert control.describer_grounded == (own_only > other_only and control.mcnemar_p_value < 0.05)
