"""The Streamlit app in headless Chromium, reading a warehouse that Dagster materialized."""

import os
import subprocess
import sys

import dagster as dg
import pytest

from assets.core.llm_calls import build_llm_calls
from assets.core.role_health import role_health
from assets.sql_models import load_sql_models
from resources import build_resources
from tests.conftest import ROOT, free_port, wait_http

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def app_url(settings_file, tmp_path):
    assets = [role_health, build_llm_calls([role_health.key]), *load_sql_models()]
    assert dg.materialize(assets, resources=build_resources(str(settings_file)),
                          selection=["core/role_health", "core/llm_calls", "core/llm_call_stats"]).success
    port = free_port()
    log = tmp_path / "streamlit.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/Home.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, "VIBESCOPE_SETTINGS": str(settings_file)},
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def page(chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS,
                                    chromium_sandbox=False)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


@pytest.mark.slow
def test_home_tables_and_sql_pages(app_url, page, artifacts):
    page.goto(app_url)
    page.get_by_text("schema core").wait_for()
    assert page.get_by_text("4 tables").is_visible()  # role_health, llm_calls, llm_call_stats, materializations
    page.screenshot(path=artifacts / "app_home.png", full_page=True)

    page.goto(f"{app_url}/Tables")
    page.get_by_text("rows", exact=False).first.wait_for()
    page.get_by_text("column_name", exact=False).first.wait_for(state="attached")

    page.goto(f"{app_url}/SQL")
    box = page.get_by_label("query")
    box.fill("SELECT role, ok FROM core.role_health")
    box.press("Control+Enter")
    page.get_by_role("button", name="Run").click()
    page.get_by_text("5 rows").wait_for()
    page.screenshot(path=artifacts / "app_sql.png", full_page=True)

    box.fill("DROP TABLE core.role_health")
    box.press("Control+Enter")
    page.get_by_role("button", name="Run").click()
    page.get_by_text("DROP statements are refused", exact=False).wait_for()


@pytest.fixture
def cje_app_url(settings_file, tmp_path):
    from tests.cje.conftest import materialize_cje

    assert materialize_cje(settings_file).success
    port = free_port()
    log = tmp_path / "streamlit.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/Home.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, "VIBESCOPE_SETTINGS": str(settings_file)},
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_cje_page(cje_app_url, page, artifacts):
    page.goto(f"{cje_app_url}/CJE")
    page.get_by_text("Policy values (95% CI)").wait_for()
    page.get_by_text("Judge → oracle calibration").wait_for()
    page.get_by_text("guard rail violation", exact=False).wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    assert page.locator(".js-plotly-plot").count() >= 3
    page.wait_for_timeout(1500)
    page.screenshot(path=artifacts / "app_cje.png", full_page=True)
