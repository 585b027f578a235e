"""The arena explorer's reads: every battle behind a number, filtered and paged in SQL.

A `BattleFilter` is what a link carries (`/Arena_explorer?model=m&fine=3&shows=model`): the app's
rows, clusters and ratings build one, the explorer page and the static report read through it. Each
filter is one SQL clause with named parameters; a page is `LIMIT ... OFFSET` in DuckDB, so the
thousandth page of 100,000 battles costs what the first of 100 does. Readers only: every query
runs on a sandboxed reader connection (`resources/reader.py`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from urllib.parse import urlencode

import duckdb
import pandas as pd

WINNERS = ("model_a", "model_b", "tie", "model", "opponent")  # "model": the filtered model won
SIDES = ("A", "B", "model", "opponent")                        # who shows the behaviour


@dataclass(frozen=True)
class BattleFilter:
    model: str | None = None        # battles this model fought (either side)
    opponent: str | None = None     # ... against this model
    winner: str | None = None       # one of WINNERS
    broad: str | None = None        # broad prompt category
    narrow: str | None = None       # narrower prompt category
    fine: int | None = None         # fine behaviour cluster some response shows
    coarse: int | None = None       # coarse behaviour cluster some response shows
    shows: str | None = None        # which side shows the cluster (or style feature): one of SIDES
    style: str | None = None        # a style feature (arena.response_style) some response shows
    rubric: str | None = None       # a scored behaviour (arena.behaviour_verdicts) one response shows more
    search: str | None = None       # text in the prompt or either response (case-insensitive)

    @classmethod
    def from_params(cls, params) -> "BattleFilter":
        """From a URL's query parameters (strings); an unknown value is refused naming the key."""
        given = {f.name: params.get(f.name) for f in fields(cls) if params.get(f.name) not in (None, "")}
        for key in ("fine", "coarse"):
            if key in given:
                try:
                    given[key] = int(given[key])
                except ValueError:
                    raise ValueError(f"{key}: a cluster id is a whole number, not {given[key]!r}") from None
        if given.get("winner") not in (None, *WINNERS):
            raise ValueError(f"winner: one of {', '.join(WINNERS)}, not {given['winner']!r}")
        if given.get("shows") not in (None, *SIDES):
            raise ValueError(f"shows: one of {', '.join(SIDES)}, not {given['shows']!r}")
        return cls(**given)

    def params(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def link(self, page: str = "Arena_explorer") -> str:
        """The explorer's URL (relative to the app) showing exactly these battles."""
        return f"{page}?{urlencode(self.params())}" if self.params() else page


def tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {f"{s}.{t}" for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}


COLUMNS = "battle_id, model_a, model_b, winner, prompt_turns, response_a_turns, response_b_turns, prompt, response_a, response_b"


def _source(have: set[str]) -> str:
    """Every battle: those of the no-LLM steps' source (arena.source_battles), and the described ones
    (arena.battles) it lacks, as when the two steps were given different inputs."""
    parts = [f"SELECT {COLUMNS} FROM {t}" for t in ("arena.source_battles", "arena.battles") if t in have]
    if len(parts) == 2:
        parts[1] += " WHERE battle_id NOT IN (SELECT battle_id FROM arena.source_battles)"
    return f"({' UNION ALL '.join(parts)})"


def _where(f: BattleFilter, have: set[str]) -> tuple[list[str], dict]:
    clauses, params = [], {}
    p = f.params()
    if f.model:
        clauses.append("$model IN (b.model_a, b.model_b)")
    if f.opponent:
        clauses.append("(b.model_a = $model AND b.model_b = $opponent OR b.model_a = $opponent AND b.model_b = $model)"
                       if f.model else "$opponent IN (b.model_a, b.model_b)")
    if f.winner in ("model_a", "model_b", "tie"):
        clauses.append("b.winner = $winner")
    elif f.winner in ("model", "opponent"):
        who = "$model" if f.winner == "model" else "$opponent"
        clauses.append(f"(b.winner = 'model_a' AND b.model_a = {who} OR b.winner = 'model_b' AND b.model_b = {who})")
    if f.broad:
        clauses.append("c.broad_category = $broad")
    if f.narrow:
        clauses.append("c.narrower_category = $narrow")
    side = {"A": "'A'", "B": "'B'", "model": "CASE WHEN b.model_a = $model THEN 'A' ELSE 'B' END",
            "opponent": "CASE WHEN b.model_a = $opponent THEN 'A' ELSE 'B' END"}.get(f.shows or "")
    if f.fine is not None or f.coarse is not None:
        clusters = " AND ".join([*(["p.fine_cluster_id = $fine"] if f.fine is not None else []),
                                 *(["p.coarse_cluster_id = $coarse"] if f.coarse is not None else [])])
        clauses.append(f"EXISTS (SELECT 1 FROM arena.clustered_properties AS p WHERE p.battle_id = b.battle_id "
                       f"AND {clusters}{f' AND p.side = {side}' if side else ''})")
    if f.style:
        clauses.append("EXISTS (SELECT 1 FROM arena.response_style AS s WHERE s.battle_id = b.battle_id "
                       f"AND s.feature = $style AND s.shows{f' AND upper(s.side) = {side}' if side else ''})")
    if f.rubric:  # the order-consistent verdict: the side named by `shows`, or either
        status = f"= {side}" if side else "IN ('A', 'B')"
        clauses.append("EXISTS (SELECT 1 FROM arena.behaviour_verdicts AS v WHERE v.battle_id = b.battle_id "
                       f"AND v.behaviour = $rubric AND v.status {status})")
    if f.search:
        clauses.append("(contains(lower(b.prompt), lower($search)) OR contains(lower(b.response_a), lower($search)) "
                       "OR contains(lower(b.response_b), lower($search)))")
    used = {name for name in p if f"${name}" in " ".join(clauses)}
    params = {k: v for k, v in p.items() if k in used}
    return clauses, params


def _filtered(f: BattleFilter, have: set[str]) -> tuple[str, dict]:
    clauses, params = _where(f, have)
    categories = ("LEFT JOIN arena.prompt_categories AS c USING (battle_id)" if "arena.prompt_categories" in have
                  else "LEFT JOIN (SELECT NULL::VARCHAR AS battle_id, NULL::VARCHAR AS broad_category, "
                       "NULL::VARCHAR AS narrower_category) AS c USING (battle_id)")
    described = ("LEFT JOIN (SELECT battle_id, true AS described FROM arena.battles) AS d USING (battle_id)"
                 if "arena.battles" in have else
                 "LEFT JOIN (SELECT NULL::VARCHAR AS battle_id, true AS described) AS d USING (battle_id)")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = (f"SELECT b.*, c.broad_category, c.narrower_category, coalesce(d.described, false) AS described "
           f"FROM {_source(have)} AS b {categories} {described} {where}")
    return sql, params


def count(con, f: BattleFilter) -> int:
    sql, params = _filtered(f, tables(con))
    return con.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]


def page(con, f: BattleFilter, number: int = 0, size: int = 25) -> pd.DataFrame:
    """One page of the filtered battles, by battle id: what a list shows (the prompt cut to 160)."""
    sql, params = _filtered(f, tables(con))
    return con.execute(
        f"SELECT battle_id, model_a, model_b, winner, broad_category, narrower_category, described, "
        f"left(regexp_replace(prompt, '\\s+', ' ', 'g'), 160) AS prompt "
        f"FROM ({sql}) ORDER BY battle_id LIMIT {int(size)} OFFSET {int(number) * int(size)}", params).df()


def options(con) -> dict[str, list]:
    """What each filter can take, for the selectors."""
    have = tables(con)
    out = {"model": [r[0] for r in con.execute(
        f"SELECT DISTINCT m FROM (SELECT model_a AS m FROM {_source(have)} UNION ALL "
        f"SELECT model_b FROM {_source(have)}) ORDER BY m").fetchall()]}
    if "arena.prompt_categories" in have:
        for key, column in (("broad", "broad_category"), ("narrow", "narrower_category")):
            out[key] = [r[0] for r in con.execute(
                f"SELECT DISTINCT {column} FROM arena.prompt_categories WHERE {column} IS NOT NULL ORDER BY 1").fetchall()]
    if "arena.cluster_labels" in have:
        for level in ("fine", "coarse"):
            out[level] = con.execute("SELECT cluster_id, name, size FROM arena.cluster_labels WHERE level = ? "
                                     "ORDER BY size DESC, cluster_id", [level]).fetchall()
    if "arena.response_style" in have:
        out["style"] = [r[0] for r in con.execute("SELECT DISTINCT feature FROM arena.response_style ORDER BY 1").fetchall()]
    if "arena.rubric_behaviours" in have:
        out["rubric"] = con.execute("SELECT behaviour, label FROM arena.rubric_behaviours ORDER BY position").fetchall()
    return out


@dataclass
class Battle:
    row: pd.Series              # the battle: models, winner, turns, category
    properties: pd.DataFrame    # the describer's properties, with their quotes' status
    style: pd.DataFrame         # feature, a, b (arena.response_style)
    verdicts: pd.DataFrame      # behaviour, label, original, swapped, status, follows_position (the rubric)

    def quotes(self, side: str) -> list[str]:
        """The grounded evidence quotes of `side`'s properties: what its response highlights."""
        if self.properties.empty:
            return []
        return [q["quote"] for qs in self.properties[self.properties.side == side].quotes for q in qs
                if q["status"] == "grounded"]


def battle(con, battle_id: str) -> Battle | None:
    have = tables(con)
    sql, params = _filtered(BattleFilter(), have)
    rows = con.execute(f"SELECT * FROM ({sql}) WHERE battle_id = $id", {**params, "id": battle_id}).df()
    if rows.empty:
        return None
    properties = pd.DataFrame(columns=["property_id", "side", "model", "property_description", "quotes"])
    source = "arena.clustered_properties" if "arena.clustered_properties" in have else "arena.behavior_properties"
    if source in have:
        clusters = ", fine_label, coarse_label, fine_cluster_id, coarse_cluster_id" if "clustered" in source else ""
        properties = con.execute(
            f"SELECT property_id, side, model, property_description, category, impact, behavior_type, evidence"
            f"{clusters} FROM {source} WHERE battle_id = ? ORDER BY side, property_id", [battle_id]).df()
        grounding = (con.execute("SELECT property_id, quote, in_own, in_other FROM arena.describer_grounding "
                                 "WHERE battle_id = ? ORDER BY property_id, quote_idx", [battle_id]).df()
                     if "arena.describer_grounding" in have else pd.DataFrame(columns=["property_id"]))
        checked = {pid: [{"quote": r.quote, "status": _status(r)} for r in rows.itertuples()]
                   for pid, rows in grounding.groupby("property_id")}
        properties["quotes"] = [checked.get(pid) or [{"quote": e, "status": "not checked (under 8 characters)"} for e in _quotes(ev)]
                                for pid, ev in zip(properties.property_id, properties.evidence)]
    style = pd.DataFrame(columns=["feature", "a", "b"])
    if "arena.response_style" in have:
        style = con.execute("SELECT feature, any_value(value) FILTER (WHERE side = 'a') AS a, "
                            "any_value(value) FILTER (WHERE side = 'b') AS b FROM arena.response_style "
                            "WHERE battle_id = ? GROUP BY feature ORDER BY feature", [battle_id]).df()
    verdicts = pd.DataFrame(columns=["behaviour", "label", "original", "swapped", "status", "follows_position"])
    if {"arena.behaviour_verdicts", "arena.rubric_behaviours"} <= have:
        verdicts = con.execute("SELECT v.behaviour, r.label, v.original, v.swapped, v.status, v.follows_position "
                               "FROM arena.behaviour_verdicts AS v JOIN arena.rubric_behaviours AS r USING (behaviour) "
                               "WHERE v.battle_id = ? ORDER BY r.position", [battle_id]).df()
    return Battle(rows.iloc[0], properties, style, verdicts)


def _quotes(evidence) -> list[str]:
    if evidence is None or evidence != evidence:
        return []
    try:
        value = json.loads(evidence) if isinstance(evidence, str) else evidence
    except ValueError:
        return [str(evidence)]
    return [str(q) for q in (value if isinstance(value, list) else [value]) if q]


def _status(checked) -> str:
    """grounded (in the response it describes: highlighted), in the other response, or not found:
    describer_grounding.sql's verdict (a quote under 8 characters it leaves out: too short to check)."""
    if checked.in_own:
        return "grounded"
    return "in the other response" if checked.in_other else "not found in either response"
