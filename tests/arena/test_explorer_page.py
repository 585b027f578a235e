"""The explorer, the leaderboard and the arena page in headless Chromium, on LMM-Vibes' own published
battles and properties (data/samples/anchors): each filter shows the count the same filter gives in
SQL, each highlighted span is a grounded quote of that battle and every grounded quote is
highlighted, markdown renders, a cluster's and a model's links open exactly their battles, and
no page raises. The grounded quotes are found here from the raw files with the standard library."""

import json
import os
import re
import subprocess
import sys
from urllib.parse import urlencode

import dagster as dg
from html.parser import HTMLParser
import pytest

from resources import build_resources
from resources.datasets import SAMPLES_DIR
from resources.warehouse import Warehouse
from tests.conftest import streamlit_app, write_settings

ANCHORS = SAMPLES_DIR / "anchors"
BATTLES, PROPERTIES = ANCHORS / "lmm_vibes_arena_battles.jsonl", ANCHORS / "lmm_vibes_arena_properties.jsonl"
# as in the demo, the no-LLM steps (style, ratings) read the 999 bundled battles, and the describer
# reads others: here LMM-Vibes' 12 with their published properties; the explorer shows them all
RUN = {"ops": {"arena__battles": {"config": {"dataset": str(BATTLES), "filter_english": False, "num_samples": 0}},
               "arena__battle_differences": {"config": {"describer_source": "file", "properties_path": str(PROPERTIES)}},
               "arena__property_clusters": {"config": {"enable_dim_reduction": False}}}}
EVERY = ("(SELECT battle_id, model_a, model_b, winner, prompt, response_a, response_b FROM arena.source_battles "
         "UNION ALL SELECT battle_id, model_a, model_b, winner, prompt, response_a, response_b FROM arena.battles "
         "WHERE battle_id NOT IN (SELECT battle_id FROM arena.source_battles))")


class RemoteReferences(HTMLParser):
    """Every script, stylesheet, font or image the page would fetch from a host: a `src` or `href`
    of <script>, <link>, <img>, <iframe>, and CSS `url(...)` or `@import` in a <style>."""

    def __init__(self):
        super().__init__()
        self.found, self.scripts, self.styles, self._in_style = [], 0, 0, False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        self.scripts += tag == "script"
        self.styles += tag == "style"
        self._in_style = tag == "style"
        for key in ("src", "href"):
            if tag in ("script", "link", "img", "iframe", "source") and re.match(r"\s*(https?:)?//", values.get(key) or ""):
                self.found.append(f"<{tag} {key}={values[key]}>")

    def handle_endtag(self, tag):
        self._in_style = self._in_style and tag != "style"

    def handle_data(self, data):
        if self._in_style:
            self.found += re.findall(r"url\(\s*[\"']?\s*(?:https?:)?//[^)]*\)|@import[^;]*", data)


def squash(text: str) -> str:
    """What a reader sees of a quote, compared without case, white space or markdown syntax."""
    return re.sub(r"[*_`#|>\-]|\d+\.|\s", "", text.lower())


def pieces(item: str) -> list[str]:
    """An evidence item's quotes: LMM-Vibes writes `"a" and "b... c"`, each quoted fragment split at
    its ellipses a quote; any other item is one."""
    if item.strip().startswith(('"', "“")):
        return [p for f in re.findall(r'["“]([^"”]+)["”]', item) for p in re.split(r"\.\.\.|…", f)]
    return [item]


def grounded_quotes() -> dict[tuple[str, str], set[str]]:
    """(battle, side) -> the evidence quotes found in that side's response (8+ characters once
    lower-cased with white space runs as one): those, and only those, are highlighted."""
    battles = {b["question_id"]: b for b in map(json.loads, BATTLES.open())}
    found: dict[tuple[str, str], set[str]] = {}
    for p in map(json.loads, PROPERTIES.open()):
        b = battles[p["question_id"]]
        side = "A" if p["model"] == b["model_a"] else "B"
        response = " ".join(b[f"model_{side.lower()}_response"].lower().split())
        items = p["evidence"] if isinstance(p["evidence"], list) else [p["evidence"]]
        for q in (piece for item in items for piece in pieces(str(item))):
            q = " ".join(q.lower().split())
            if len(q) >= 8 and q in response:
                found.setdefault((p["question_id"], side), set()).add(squash(q))
    return found


@pytest.fixture(scope="module")
def anchor_run(tmp_path_factory):
    path = write_settings(tmp_path_factory.mktemp("explorer") / "dagster_project.toml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIBESCOPE_SETTINGS", str(path))
        import definitions

        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize([*definitions.defs.assets], resources=build_resources(str(path)), instance=instance,
                                selection=dg.AssetSelection.groups("arena"), run_config=RUN)
        assert result.success
        # the namers say how far they are: a last line n/n for each naming stage
        said = [e.user_message for e in instance.all_logs(result.run_id)]
        for stage in ("namer (categories)", "namer (behaviour clusters)"):
            assert any(re.match(rf"{re.escape(stage)}: (\d+)/\1, about \d+ s left", m) for m in said), stage
        yield path


def matched(page) -> int:
    text = page.get_by_text(re.compile(r"battles match")).first.inner_text()
    return int(re.match(r"([\d,]+) battles", text).group(1).replace(",", ""))


def tall(page, path, height: int = 2600):
    """A screenshot of the whole page: Streamlit scrolls inside its own container, so the window grows."""
    page.set_viewport_size({"width": 1400, "height": height})
    page.wait_for_timeout(1500)
    page.screenshot(path=path)
    page.set_viewport_size({"width": 1400, "height": 1000})


def no_exception(page):
    page.wait_for_timeout(300)
    assert page.locator('[data-testid="stException"]').count() == 0, page.url


def marked_spans(page, side: str) -> set[str]:
    spans: dict[str, str] = {}
    for m in page.locator(f'.vs-response[data-side="{side}"] mark').all():
        spans[m.get_attribute("data-span")] = spans.get(m.get_attribute("data-span"), "") + m.inner_text()
    return {squash(t) for t in spans.values()}


@pytest.mark.slow
def test_explorer_leaderboard_and_links(anchor_run, tmp_path, page, artifacts):
    wh = Warehouse(settings_file=str(anchor_run))
    q = lambda sql: wh.query(sql).iloc[:, 0].tolist()  # noqa: E731
    models = q(f"SELECT DISTINCT model_a FROM {EVERY} ORDER BY 1")
    fine = q("SELECT fine_cluster_id FROM arena.clustered_properties GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0]
    category = q("SELECT broad_category FROM arena.prompt_categories LIMIT 1")[0]
    measured = q("SELECT behaviour FROM arena.rubric_behaviours ORDER BY position LIMIT 1")[0]
    # each filter and the count the same filter gives in SQL, written here
    cases = [({}, f"SELECT count(*) FROM {EVERY}"),
             ({"model": models[0]}, f"SELECT count(*) FROM {EVERY} WHERE '{models[0]}' IN (model_a, model_b)"),
             ({"winner": "tie"}, f"SELECT count(*) FROM {EVERY} WHERE winner = 'tie'"),
             ({"broad": category}, f"SELECT count(*) FROM arena.prompt_categories WHERE broad_category = '{category}'"),
             ({"fine": fine}, f"SELECT count(DISTINCT battle_id) FROM arena.clustered_properties WHERE fine_cluster_id = {fine}"),
             ({"fine": fine, "shows": "B"}, "SELECT count(DISTINCT battle_id) FROM arena.clustered_properties "
                                            f"WHERE fine_cluster_id = {fine} AND side = 'B'"),
             ({"style": "code_blocks"}, "SELECT count(DISTINCT battle_id) FROM arena.response_style "
                                        "WHERE feature = 'code_blocks' AND shows"),
             ({"rubric": measured}, "SELECT count(*) FROM arena.behaviour_verdicts "
                                    f"WHERE behaviour = '{measured}' AND status IN ('A', 'B')"),
             ({"search": "python"}, f"SELECT count(*) FROM {EVERY} WHERE lower(prompt || response_a || "
                                    "response_b) LIKE '%python%'")]
    with streamlit_app(anchor_run, tmp_path) as url:
        counts = set()
        for params, sql in cases:
            page.goto(f"{url}/Arena_explorer?{urlencode(params)}")
            want = q(sql)[0]
            page.get_by_text(re.compile(r"battles match")).first.wait_for()
            assert matched(page) == want, params
            counts.add(want)
        assert len(counts) >= 5  # the filters select different battles

        # a filter chosen in the sidebar, as a person does
        page.goto(f"{url}/Arena_explorer")
        page.get_by_text(re.compile(r"battles match")).first.wait_for()
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name=models[1], exact=True).click()
        page.wait_for_function("() => document.body.innerText.includes('match: model = ')")
        assert matched(page) == q(f"SELECT count(*) FROM {EVERY} WHERE '{models[1]}' IN (model_a, model_b)")[0]

        # the highlights of every battle with grounded evidence: exactly its grounded quotes
        grounded = grounded_quotes()
        assert len(grounded) >= 8  # most of the file's quotes are quoted fragments
        for battle_id in sorted({b for b, _ in grounded}):
            page.goto(f"{url}/Arena_explorer?{urlencode({'battle': battle_id})}")
            page.get_by_text(f"Battle {battle_id}").wait_for()
            page.locator('.vs-response[data-side="B"]').last.wait_for()
            page.get_by_text("B's properties").wait_for()  # drawn after both responses
            for side in "AB":
                want, seen = grounded.get((battle_id, side), set()), marked_spans(page, side)
                assert all(any(w in s for s in seen) for w in want), (battle_id, side, want - seen)
                assert all(any(w in s for w in want) for s in seen), (battle_id, side, seen - want)
            no_exception(page)
        coded = q("SELECT battle_id FROM arena.battles WHERE response_a LIKE '%```%' ORDER BY 1 LIMIT 1")[0]
        page.goto(f"{url}/Arena_explorer?{urlencode({'battle': coded})}")
        page.locator('.vs-response[data-side="A"] pre').first.wait_for()  # a code block is a <pre>
        page.get_by_text("Measured behaviours (the rubric").wait_for()  # its verdicts, both orders
        tall(page, artifacts / "app_arena_explorer.png")

        # a cluster's link opens exactly its battles; the rubric's table above the clusters
        page.goto(f"{url}/Arena_behaviours")
        page.get_by_text("Measured behaviours: the rubric on every battle").wait_for()
        button = page.get_by_role("link", name=re.compile(r"open the \d+ battles of this cluster"))
        button.wait_for()
        no_exception(page)
        with page.expect_popup() as popup:
            button.click()
        explorer = popup.value
        explorer.locator("table.vs-battles a").first.wait_for()
        cluster = int(re.search(r"fine=(\d+)", explorer.url).group(1))
        shown = set(explorer.locator("table.vs-battles a").all_inner_texts())
        assert shown == set(q(f"SELECT DISTINCT battle_id FROM arena.clustered_properties WHERE fine_cluster_id = {cluster}"))
        explorer.close()

        # the leaderboard, and a model's battles from it
        page.goto(f"{url}/Leaderboard")
        page.get_by_text("Pairwise: who beats whom").wait_for()
        page.locator(".js-plotly-plot").nth(2).wait_for()
        no_exception(page)
        tall(page, artifacts / "app_leaderboard.png")
        with page.expect_popup() as popup:
            page.get_by_role("link", name=re.compile(r"^open .+'s battles in the explorer")).click()
        explorer = popup.value
        explorer.get_by_text(re.compile(r"battles match")).first.wait_for()
        model = re.search(r"match: model = (.+)", explorer.get_by_text(re.compile("battles match")).first.inner_text()).group(1)
        assert matched(explorer) == q(f"SELECT count(*) FROM {EVERY} WHERE '{model}' IN (model_a, model_b)")[0]
        page.goto(url)
        page.get_by_text("Which model is better").first.wait_for()
        page.locator(".js-plotly-plot").first.wait_for()
        no_exception(page)
        tall(page, artifacts / "app_home.png", 1800)


@pytest.mark.slow
def test_the_static_report_opens_with_the_network_off(anchor_run, tmp_path, page, artifacts):
    """`vibescope report --html` on the anchors' arena run and the CJE sample: one file that shows the
    leaderboard and the examples from file:// while every request to a host is refused, and names no
    script, stylesheet or font on one."""
    from tests.cje.conftest import materialize_cje

    assert materialize_cje(anchor_run).success
    out = tmp_path / "report" / "vibescope.html"
    done = subprocess.run([sys.executable, "-m", "vibescope", "report", "--html", str(out), "--examples", "2"],
                          env={**os.environ, "VIBESCOPE_SETTINGS": str(anchor_run)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert re.search(r"wrote .*vibescope\.html \(\d+\.\d MB; 3 sections", done.stdout), done.stdout
    planted = RemoteReferences()  # the check finds what it looks for
    planted.feed('<script src="https://cdn.example/x.js"></script><style>@font-face{src:url(//f.example/a.woff)}</style>')
    assert len(planted.found) == 2
    remote = RemoteReferences()
    remote.feed(out.read_text())
    assert remote.found == [], remote.found[:5]
    assert remote.scripts >= 2 and remote.styles >= 1  # plotly.js and the search inline; the styles inline

    asked = []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
               else (asked.append(route.request.url), route.abort()))
    page.goto(out.as_uri())
    page.get_by_role("heading", name="Leaderboard: which model is better").wait_for()
    page.locator("#leaderboard .js-plotly-plot").first.wait_for()  # plotly.js ran from the file itself
    rated = Warehouse(settings_file=str(anchor_run)).query(
        "SELECT count(*) AS n FROM arena.model_ratings WHERE control = 'none' AND category = 'all' AND rated").n[0]
    assert page.locator("#leaderboard table.data tbody tr").count() == rated > 10
    example = page.locator("#arena details.example").first
    example.locator("summary").click()
    example.locator(".response").first.wait_for()
    assert page.locator("#arena details.example mark").count() > 0  # grounded evidence, highlighted
    page.get_by_role("heading", name="Causal judge evaluation").wait_for()
    page.fill("#search", "zzz-no-such-text")
    assert page.locator("details.example:visible").count() == 0  # the search hides what does not match
    page.screenshot(path=artifacts / "report_html.png")
    assert asked == []
