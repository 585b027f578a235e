"""Shared fixtures: a project settings file under tmp_path, a llama.cpp server, Chromium."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing from the network, ever
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# Each test's runs use an ephemeral Dagster instance (or one the test makes), never the project's
# .dagster_home: its pool limits and run history are the user's, not the tests'.
os.environ.pop("DAGSTER_HOME", None)
# The tests run on the bundled samples, so on the demo profile (its sizes and sample paths); a test
# of what a user's run reads unsets it (tests/test_your_data.py).
os.environ["VIBESCOPE_PROFILE"] = "demo"
for _var in ("VIBESCOPE_BACKEND", "VIBESCOPE_MODEL", "VIBESCOPE_BASE_URL", "VIBESCOPE_API_KEY_ENV"):
    os.environ.pop(_var, None)

import shutil
from contextlib import contextmanager
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import urllib.error
import urllib.request
import pytest

from resources.llm.backend_llamacpp import embedded_gguf
from resources.settings import DEFAULT_SETTINGS_FILE, load_settings

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_settings(path: Path, extra: str = "") -> Path:
    """The project's settings file with every path moved under `path`'s folder, plus `extra`."""
    text = DEFAULT_SETTINGS_FILE.read_text()
    base = path.parent
    for key, value in tomllib.loads(text)["paths"].items():
        text = text.replace(f'{key} = "{value}"', f'{key} = "{base / value}"', 1)
    path.write_text(text + "\n" + extra)
    return path


@pytest.fixture
def settings_file(tmp_path, monkeypatch) -> Path:
    """A fresh project (warehouse, snapshot, caches) under tmp_path, used by every resource."""
    path = write_settings(tmp_path / "dagster_project.toml")
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
    for var in ("VIBESCOPE_WAREHOUSE", "VIBESCOPE_SNAPSHOT", "VIBESCOPE_CACHE", "VIBESCOPE_REPORTS"):
        monkeypatch.delenv(var, raising=False)
    return path


@pytest.fixture
def settings(settings_file):
    return load_settings(settings_file)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # up, and asking for its API key
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"no answer from {url}")


@contextmanager
def serve(command: list[str], health_url: str, log: Path, env: dict | None = None):
    """Run a server on 127.0.0.1 until the block ends; fail with its log if it does not come up."""
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_http(health_url, proc, log)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """llama.cpp's OpenAI-compatible server on 127.0.0.1 with the embedded model."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", embedded_gguf(),
               "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", "2048", "--logits_all", "true"]
    with serve(command, f"http://127.0.0.1:{port}/v1/models", log):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium; missing is a failure in CI (the browser tests must run there)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the browser tests save their screenshots: test-artifacts/, or docs/screenshots/ with
    VIBESCOPE_SCREENSHOTS=docs (how the pictures in docs/EVIDENCE.md are made)."""
    folder = ROOT / "docs" / "screenshots" if os.environ.get("VIBESCOPE_SCREENSHOTS") == "docs" else ARTIFACTS
    folder.mkdir(exist_ok=True)
    return folder


CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def streamlit_app(settings_file, tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app/Home.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    with serve(command, f"http://127.0.0.1:{port}/_stcore/health", tmp_path / "streamlit.log",
               env={**os.environ, "VIBESCOPE_SETTINGS": str(settings_file)}):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def page(chromium):
    """A headless Chromium page (playwright driving Debian's Chromium)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS,
                                    chromium_sandbox=False)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


# Native libraries loaded in this process (llama.cpp's model, torch, DuckDB) can abort the
# interpreter's last garbage collection at exit (a full run once ended `terminate called without
# an active exception`, exit 134, after "316 passed"). The outcome is final by then: exit with it.
_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS.append(int(exitstatus))


def pytest_unconfigure(config):
    if _EXIT_STATUS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
