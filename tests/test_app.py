"""The Streamlit app in headless Chromium, reading warehouses that Dagster materialized."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.core.llm_calls import build_llm_calls
from assets.core.role_health import role_health
from assets.diff.distinguishing_terms import distinguishing_terms
from assets.sql_models import load_sql_models
from resources import build_resources
from resources.settings import load_settings
from resources.warehouse import Warehouse
from tests.conftest import streamlit_app


def materialize_core(settings_file):
    assets = [role_health, build_llm_calls([role_health.key]), *load_sql_models()]
    assert dg.materialize(assets, resources=build_resources(str(settings_file)),
                          selection=["core/role_health", "core/llm_calls", "core/llm_call_stats"]).success


@pytest.mark.slow
def test_home_tables_and_sql_pages(settings_file, tmp_path, page, artifacts):
    materialize_core(settings_file)
    with streamlit_app(settings_file, tmp_path) as url:
        page.goto(url)
        page.get_by_text("No analysis has run yet").wait_for()  # core only: no finding to show

        page.goto(f"{url}/Tables")
        page.get_by_text("schema core").wait_for()
        assert page.get_by_text("4 tables").is_visible()  # role_health, llm_calls, llm_call_stats, materializations
        page.get_by_text("layer model", exact=False).first.wait_for()  # core.llm_call_stats, a SQL model

        page.goto(f"{url}/SQL")
        box = page.get_by_label("query")
        box.fill("SELECT role, ok FROM core.role_health")
        box.press("Control+Enter")
        page.get_by_role("button", name="Run").click()
        roles = len(load_settings().pipelines["core"]["health_roles"])
        page.get_by_text(f"{roles} rows").wait_for()
        page.screenshot(path=artifacts / "app_sql.png", full_page=True)

        box.fill("DROP TABLE core.role_health")
        box.press("Control+Enter")
        page.get_by_role("button", name="Run").click()
        page.get_by_text("DROP statements are refused", exact=False).wait_for()


@pytest.mark.slow
def test_cje_page(settings_file, tmp_path, page, artifacts):
    from tests.cje.conftest import materialize_cje

    assert materialize_cje(settings_file).success
    with streamlit_app(settings_file, tmp_path) as url:
        page.goto(url)  # Home leads with the finding, its input and its guard rails
        page.get_by_text("CJE: each policy's value, dr (auto: fresh draws give doubly robust estimates)").wait_for()
        page.get_by_text("input: sample:cje_arena_sample/logged_data.jsonl").wait_for()
        page.get_by_text("Best policy by dr: parallel_universe_prompt. Not decision-ready:", exact=False).wait_for()
        page.screenshot(path=artifacts / "app_home_cje.png", full_page=True)
        page.goto(f"{url}/CJE")  # the page leads with the decision (cje.decision)
        page.get_by_text("Best policy by dr: parallel_universe_prompt. Not decision-ready:", exact=False).wait_for()
        page.get_by_text("Policy values (95% CI)").wait_for()
        page.get_by_text("Judge → oracle calibration").wait_for()
        page.get_by_text("guard rail violation", exact=False).wait_for()
        page.locator(".js-plotly-plot").nth(2).wait_for()  # Streamlit draws the plots one by one
        page.wait_for_timeout(1500)
        page.screenshot(path=artifacts / "app_cje.png", full_page=True)
        # the prompts behind the estimates, largest weight first: the first is the policy's heaviest
        page.get_by_text("Prompts behind the estimates").wait_for()
        page.get_by_text("1,000 prompts; page (of 20)").wait_for()
        wh = Warehouse()
        weights = wh.query("SELECT prompt_id, weight FROM cje.importance_weights WHERE policy = 'clone'")
        heaviest = weights.sort_values(["weight", "prompt_id"], ascending=[False, True]).prompt_id.iloc[0]
        page.get_by_text(f"Prompt {heaviest}").wait_for()
        logged = wh.query(f"SELECT response FROM cje.responses WHERE prompt_id = '{heaviest}' AND source = 'logged'")
        assert logged.response[0].split()[0] in page.locator(".vs-response").first.inner_text()
        assert page.locator('[data-testid="stException"]').count() == 0
        page.get_by_text("Prompts behind the estimates").scroll_into_view_if_needed()
        page.screenshot(path=artifacts / "app_cje_examples.png")


@pytest.mark.slow
def test_dataset_difference_page(settings_file, tmp_path, page, artifacts):
    from tests.diff.test_metrics import materialize_metrics

    rng = np.random.default_rng(0)
    stages = ("final", "loop", "length_baseline", "lexical_baseline")
    materialize_metrics(settings_file, {s: rng.uniform(size=80) for s in stages})
    Warehouse().write_table("diff.iterations", pd.DataFrame(
        [{"iteration": 1, "epoch": 1, "description": "B ends with a sign-off.", "rows_shown": 8}]))
    assert dg.materialize([*(a for a in load_sql_models() if a.key.path[0] == "diff"), distinguishing_terms],
                          resources=build_resources(str(settings_file)),
                          selection=["diff/reliability", "diff/distinguishing_terms"]).success
    with streamlit_app(settings_file, tmp_path) as url:
        page.goto(f"{url}/Dataset_difference")
        page.get_by_text("LLM classifier (final prompt): accuracy").wait_for()
        page.get_by_text("words: TF-IDF logistic regression: accuracy").wait_for()
        page.get_by_text("Words that separate A from B").wait_for()
        page.get_by_text("“alpha” in A").wait_for()
        page.get_by_text("“beta” in B").wait_for()
        page.get_by_text("B ends with a sign-off.", exact=False).wait_for(state="attached")
        page.locator(".js-plotly-plot").first.wait_for()
        page.wait_for_timeout(1000)
        page.screenshot(path=artifacts / "app_diff.png", full_page=True)
        # each row with its side, the side predicted and whether that is right; wrong only: fewer
        page.get_by_text("Rows, one by one").wait_for()
        rows = Warehouse().query("SELECT r.side, p.p_a FROM diff.rows AS r JOIN diff.predictions AS p USING (row_id) "
                                 "WHERE p.stage = 'final'")
        wrong = int(((rows.p_a >= 0.5) != (rows.side == "A")).sum())
        assert 0 < wrong < len(rows)
        page.get_by_text(f"{len(rows)} rows match").wait_for()
        page.get_by_text("wrong only").click()
        page.get_by_text(f"{wrong} rows match").wait_for()
        assert page.locator('[data-testid="stException"]').count() == 0
        page.get_by_text("Rows, one by one").scroll_into_view_if_needed()
        page.screenshot(path=artifacts / "app_diff_rows.png")
