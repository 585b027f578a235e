"""Every battle behind a number: filters (a link from a rating, cluster or metric row fills them),
pages of battles in SQL, and one battle as a person reads it: the prompt, both responses side by
side with markdown rendered, the winner, each describer property on its side with its grounded
evidence highlighted in the response, the rubric's verdict per measured behaviour (both orders),
and the style features of each side."""

import html
from urllib.parse import urlencode

import streamlit as st

from analysis.evidence import render
from resources import explore
from resources.explore import BattleFilter
from snapshot import warehouse

PAGE_SIZE = 25
st.set_page_config(page_title="vibescope · arena explorer", layout="wide")
st.title("Arena explorer")

try:
    linked = BattleFilter.from_params(st.query_params)
except ValueError as exc:
    st.error(f"This link's filter is not one the explorer reads: {exc}")
    linked = BattleFilter()


def battle_list(rows, f: BattleFilter, page_number: int, shown) -> str:
    """The page's battles as a table whose ids open each battle (the filters and page kept in the link)."""
    def link(battle_id):
        href = html.escape(f"?{urlencode({**f.params(), 'page': page_number, 'battle': battle_id})}")
        mark = " ◀" if battle_id == shown else ""
        return f'<a href="{href}">{html.escape(battle_id)}</a>{mark}'

    head = "".join(f"<th>{c}</th>" for c in ("battle", "model A", "model B", "winner", "category", "prompt"))
    body = "".join(
        f"<tr><td>{link(r.battle_id)}</td><td>{html.escape(r.model_a)}</td><td>{html.escape(r.model_b)}</td>"
        f"<td>{r.winner}</td><td>{html.escape(r.broad_category or '') if isinstance(r.broad_category, str) else ''}</td>"
        f"<td>{html.escape(r.prompt or '')}</td></tr>" for r in rows.itertuples())
    return (f'<div style="max-height:330px;overflow-y:auto"><table class="vs-battles" '
            f'style="font-size:13px;border-collapse:collapse;width:100%">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def pick(label: str, key: str, choices: list, fmt=str):
    """A selector defaulting to the link's value for `key` (any: None)."""
    current = getattr(linked, key)
    values = [None, *choices]
    index = values.index(current) if current in values else 0
    return st.sidebar.selectbox(label, values, index=index, key=f"f_{key}",
                                format_func=lambda v: "any" if v is None else fmt(v))


with warehouse() as con:
    if not explore.tables(con) & {"arena.source_battles", "arena.battles"}:
        st.info("No battles yet: `vibescope arena BATTLES` (or the `arena` group in Dagster, or `make demo`).")
        st.stop()
    opts = explore.options(con)
    st.sidebar.header("Filters")
    model = pick("model", "model", opts["model"])
    opponent = pick("opponent", "opponent", [m for m in opts["model"] if m != model])
    winner = pick("human winner", "winner", list(explore.WINNERS) if model else ["model_a", "model_b", "tie"],
                  lambda v: {"model": "the model won", "opponent": "the opponent won"}.get(v, v))
    broad = pick("broad category", "broad", opts.get("broad", []))
    narrow = pick("narrow category", "narrow", opts.get("narrow", []))
    names = {level: {cid: f"{name} ({size})" for cid, name, size in opts.get(level, [])} for level in ("fine", "coarse")}
    fine = pick("fine behaviour cluster", "fine", list(names["fine"]), lambda v: names["fine"].get(v, str(v)))
    coarse = pick("coarse behaviour cluster", "coarse", list(names["coarse"]), lambda v: names["coarse"].get(v, str(v)))
    style = pick("style feature shown", "style", opts.get("style", []))
    rubric_names = dict(opts.get("rubric", []))
    rubric = pick("measured behaviour shown more (rubric)", "rubric", list(rubric_names),
                  lambda v: rubric_names.get(v, v))
    shows = pick("which side shows it", "shows", list(explore.SIDES))
    search = st.sidebar.text_input("text in the prompt or a response", value=linked.search or "", key="f_search")
    chosen = BattleFilter(model=model, opponent=opponent, winner=winner, broad=broad, narrow=narrow, fine=fine,
                          coarse=coarse, shows=shows, style=style, rubric=rubric, search=search or None)
    if chosen != linked:  # the address keeps the filters: a link to this view shows it again
        st.query_params.from_dict(chosen.params())
    total = explore.count(con, chosen)
    pages = max(1, -(-total // PAGE_SIZE))
    st.markdown(f"**{total:,} battles** match" + (f": {', '.join(f'{k} = {v}' for k, v in chosen.params().items())}"
                                                   if chosen.params() else " (no filter)"))
    wanted_page = int(st.query_params.get("page", 1)) if str(st.query_params.get("page", 1)).isdigit() else 1
    number = st.number_input(f"page (of {pages:,})", min_value=1, max_value=pages, value=min(max(wanted_page, 1), pages),
                             step=1, key="page") - 1
    rows = explore.page(con, chosen, number, PAGE_SIZE)
    ids = rows.battle_id.tolist()
    wanted = st.query_params.get("battle")  # a link to one battle opens it, on whatever page it is
    battle = explore.battle(con, wanted) if wanted else None
    if battle is None and ids:
        battle = explore.battle(con, ids[0])
    st.html(battle_list(rows, chosen, number + 1, battle.row.battle_id if battle is not None else None))

if battle is not None:
    b = battle.row
    won = {"model_a": f"A ({b.model_a}) won", "model_b": f"B ({b.model_b}) won", "tie": "a tie"}[b.winner]
    st.subheader(f"Battle {b.battle_id}: {b.model_a} vs {b.model_b}, {won}")
    where = " · ".join(x for x in (b.broad_category, b.narrower_category) if isinstance(x, str))
    st.caption((f"category: {where}. " if where else "") + ("Described." if b.described else
               "Not among the battles the describer read: no properties."))
    turns = list(zip(b.prompt_turns, b.response_a_turns, b.response_b_turns)) \
        if b.prompt_turns is not None and len(b.prompt_turns) else [(b.prompt, b.response_a, b.response_b)]
    highlights = {"A": battle.quotes("A"), "B": battle.quotes("B")}
    for i, (prompt, a_text, b_text) in enumerate(turns, start=1):
        st.markdown(f"**User, turn {i} of {len(turns)}**" if len(turns) > 1 else "**Prompt**")
        st.html(f'<div class="vs-prompt">{render(prompt)}</div>')
        left, right = st.columns(2)
        left.markdown(f"**A: {b.model_a}**" + (" (won)" if b.winner == "model_a" else ""))
        left.html(f'<div class="vs-response" data-side="A">{render(a_text, highlights["A"])}</div>')
        right.markdown(f"**B: {b.model_b}**" + (" (won)" if b.winner == "model_b" else ""))
        right.html(f'<div class="vs-response" data-side="B">{render(b_text, highlights["B"])}</div>')

    left, right = st.columns(2)
    for column, side in ((left, "A"), (right, "B")):
        mine = battle.properties[battle.properties.side == side]
        column.markdown(f"**{side}'s properties** ({len(mine)})")
        for p in mine.itertuples():
            cluster = f" · cluster: {p.fine_label}" if getattr(p, "fine_label", None) else ""
            quotes = "".join(f"<li>“{html.escape(q['quote'])}”: <i>{q['status']}</i></li>" for q in p.quotes)
            column.html(f'<div class="vs-property"><b>{html.escape(p.property_description)}</b>'
                        f'<small>{html.escape(cluster)}</small><ul>{quotes}</ul></div>')
    if not battle.verdicts.empty:
        st.markdown("**Measured behaviours** (the rubric: the scorer asked in the data's order and with the "
                    "responses swapped; a verdict stands where both orders agree)")
        side = {"A": f"A: {b.model_a}", "B": f"B: {b.model_b}", "equal": "equal"}
        st.dataframe(battle.verdicts.assign(
            original=battle.verdicts.original.map(side), swapped=battle.verdicts.swapped.map(side),
            verdict=battle.verdicts.status.map(lambda v: side.get(v, v)))[
                ["label", "original", "swapped", "verdict", "follows_position"]].rename(columns={
                    "label": "behaviour", "original": "asked A first", "swapped": "asked B first",
                    "follows_position": "followed the position"}), hide_index=True)
    if not battle.style.empty:
        st.markdown("**Style features** (counted by rule, no LLM)")
        st.dataframe(battle.style.rename(columns={"a": f"A: {b.model_a}", "b": f"B: {b.model_b}"}),
                     hide_index=True)
