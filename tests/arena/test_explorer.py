"""The explorer's reads on the fictional run (its 120 described battles, and the 999 bundled ones
its style view reads): every filter's battles equal the same filter computed here in pandas from
the tables, pages cover them once each, and the pairwise matrices equal FastChat's pivot code."""

import pandas as pd
import pytest

from resources import explore
from resources.explore import BattleFilter
from resources.reader import open_reader
from resources.settings import load_settings


@pytest.fixture(scope="module")
def con(fictional_warehouse):
    with open_reader(load_settings(fictional_warehouse.settings_file)) as c:
        yield c


@pytest.fixture(scope="module")
def frames(fictional_warehouse):
    q = fictional_warehouse.query
    source, described = q("SELECT * FROM arena.source_battles"), q("SELECT * FROM arena.battles")
    return {"battles": pd.concat([source, described[~described.battle_id.isin(source.battle_id)]]),
            "categories": q("SELECT * FROM arena.prompt_categories"),
            "properties": q("SELECT battle_id, side, model, fine_cluster_id, coarse_cluster_id FROM arena.clustered_properties"),
            "style": q("SELECT battle_id, side, model, feature, shows FROM arena.response_style"),
            "verdicts": q("SELECT v.battle_id, v.behaviour, v.status, b.model_a, b.model_b "
                          "FROM arena.behaviour_verdicts AS v JOIN arena.battles AS b USING (battle_id)")}


def expected_ids(f: BattleFilter, frames) -> list[str]:
    """The filter, computed independently of resources/explore.py's SQL."""
    b = frames["battles"].merge(frames["categories"][["battle_id", "broad_category", "narrower_category"]],
                                on="battle_id", how="left")
    keep = pd.Series(True, index=b.index)
    if f.model:
        keep &= (b.model_a == f.model) | (b.model_b == f.model)
    if f.opponent:
        keep &= (b.model_a == f.opponent) | (b.model_b == f.opponent)
    if f.winner == "model":
        keep &= ((b.winner == "model_a") & (b.model_a == f.model)) | ((b.winner == "model_b") & (b.model_b == f.model))
    elif f.winner:
        keep &= b.winner == f.winner
    if f.broad:
        keep &= b.broad_category == f.broad
    if f.fine is not None or f.coarse is not None:
        p = frames["properties"]
        p = p[p.fine_cluster_id == f.fine] if f.fine is not None else p[p.coarse_cluster_id == f.coarse]
        if f.shows == "model":
            p = p[p.model == f.model]
        elif f.shows:
            p = p[p.side == f.shows]
        keep &= b.battle_id.isin(p.battle_id)
    if f.style:
        s = frames["style"]
        s = s[(s.feature == f.style) & s.shows & ((s.model == f.model) if f.shows == "model" else True)]
        keep &= b.battle_id.isin(s.battle_id)
    if f.rubric:
        v = frames["verdicts"]
        v = v[v.behaviour == f.rubric]
        shown = (v.status == "A") & (v.model_a == f.model) | (v.status == "B") & (v.model_b == f.model) \
            if f.shows == "model" else v.status == f.shows if f.shows else v.status.isin(["A", "B"])
        keep &= b.battle_id.isin(v[shown].battle_id)
    if f.search:
        text = (b.prompt + "\n" + b.response_a + "\n" + b.response_b).str.lower()
        keep &= text.str.contains(f.search.lower(), regex=False)
    return sorted(b[keep].battle_id)


def every_page(con, f: BattleFilter, size: int = 7) -> list[str]:
    ids, number = [], 0
    while len(rows := explore.page(con, f, number, size)):
        ids += rows.battle_id.tolist()
        number += 1
    return ids


def test_every_filter_gives_the_battles_pandas_gives(con, frames):
    models = sorted(set(frames["battles"].model_a))
    p = frames["properties"]
    big_fine = int(p.fine_cluster_id.value_counts().index[0])
    shown_by = p[p.fine_cluster_id == big_fine].model.iloc[0]
    filters = [BattleFilter(), BattleFilter(model=models[0]), BattleFilter(model=models[0], opponent=models[1]),
               BattleFilter(winner="tie"), BattleFilter(winner="model_b"), BattleFilter(model=models[1], winner="model"),
               BattleFilter(broad=frames["categories"].broad_category.iloc[0]), BattleFilter(fine=big_fine),
               BattleFilter(coarse=int(p.coarse_cluster_id.iloc[0])), BattleFilter(fine=big_fine, shows="A"),
               BattleFilter(model=shown_by, fine=big_fine, shows="model"), BattleFilter(style="bold"),
               BattleFilter(model=models[2], style="list_items", shows="model"), BattleFilter(search="SORRY"),
               BattleFilter(search="100%_not there"), BattleFilter(rubric="summary"),
               BattleFilter(rubric="summary", shows="B"), BattleFilter(model=models[0], rubric="summary", shows="model")]
    sizes = set()
    for f in filters:
        want = expected_ids(f, frames)
        assert explore.count(con, f) == len(want), f
        assert every_page(con, f) == sorted(want), f  # pages in id order, each battle once
        sizes.add(len(want))
    assert len(sizes) > 8 and 0 in sizes  # the filters select different sets, one of them empty


def test_a_link_carries_its_filter(con):
    f = BattleFilter(model="fictional-bullets", fine=3, shows="model", search="a b&c")
    link = f.link()
    assert link.startswith("Arena_explorer?") and "search=a+b%26c" in link
    from urllib.parse import parse_qsl, urlsplit

    assert BattleFilter.from_params(dict(parse_qsl(urlsplit(link).query))) == f
    with pytest.raises(ValueError, match="fine: a cluster id is a whole number"):
        BattleFilter.from_params({"fine": "three"})
    with pytest.raises(ValueError, match="winner: one of"):
        BattleFilter.from_params({"winner": "A"})


def test_a_battle_holds_its_texts_properties_verdicts_and_style(con, frames):
    p = frames["properties"]
    battle_id = p.battle_id.iloc[0]  # a described battle: texts and properties, no style (not in the source)
    b = explore.battle(con, battle_id)
    row = frames["battles"].set_index("battle_id").loc[battle_id]
    assert (b.row.model_a, b.row.response_b, b.row.described) == (row.model_a, row.response_b, True)
    assert sorted(b.properties.property_id.str.split(":").str[0].unique()) == [battle_id]
    assert len(b.properties) == (p.battle_id == battle_id).sum()
    verdicts = frames["verdicts"][frames["verdicts"].battle_id == battle_id]  # the rubric's, every behaviour
    assert dict(zip(b.verdicts.behaviour, b.verdicts.status)) == dict(zip(verdicts.behaviour, verdicts.status))
    assert {"summary", "apologetic"} <= set(b.verdicts.behaviour)
    styled = frames["style"].battle_id.iloc[0]  # a battle of the style view's source: its features, no properties
    b = explore.battle(con, styled)
    assert b.properties.empty and not b.row.described
    assert set(b.style.feature) == set(frames["style"].feature) and len(b.style.dropna()) == len(b.style)
    assert explore.battle(con, "no such battle") is None


def fastchat_pairwise_win_fraction(battles: pd.DataFrame) -> pd.DataFrame:
    """FastChat's `compute_pairwise_win_fraction` (fastchat/serve/monitor/elo_analysis.py), its
    pivot tables as written there, on battles without ties."""
    a_win_ptbl = pd.pivot_table(battles[battles["winner"] == "model_a"], index="model_a", columns="model_b",
                                aggfunc="size", fill_value=0)
    b_win_ptbl = pd.pivot_table(battles[battles["winner"] == "model_b"], index="model_a", columns="model_b",
                                aggfunc="size", fill_value=0)
    num_battles_ptbl = pd.pivot_table(battles, index="model_a", columns="model_b", aggfunc="size", fill_value=0)
    return (a_win_ptbl + b_win_ptbl.T) / (num_battles_ptbl + num_battles_ptbl.T)


def test_the_pairwise_matrices_equal_fastchats(fictional_warehouse):
    from analysis.leaderboard import matrix

    battles = fictional_warehouse.query("SELECT model_a, model_b, winner FROM arena.rating_battles")
    no_ties = battles[~battles.winner.str.contains("tie")]
    theirs = fastchat_pairwise_win_fraction(no_ties)
    ptbl = pd.pivot_table(no_ties, index="model_a", columns="model_b", aggfunc="size", fill_value=0)
    counts = ptbl.add(ptbl.T, fill_value=0)  # FastChat's visualize_battle_count: ptbl + ptbl.T
    pairwise = fictional_warehouse.query("SELECT * FROM arena.pairwise_battles")
    ours = matrix(pairwise, "win_fraction")
    compared = 0
    for model in theirs.index:
        for opponent in theirs.columns:
            if model == opponent or pd.isna(theirs.loc[model, opponent]):
                continue
            assert ours.loc[model, opponent] == pytest.approx(theirs.loc[model, opponent], abs=1e-12)
            assert matrix(pairwise, "decided").loc[model, opponent] == counts.loc[model, opponent]
            compared += 1
    assert compared >= 6
    assert (pairwise.battles == pairwise.decided + pairwise.ties).all()
