"""The arena explorer at 1,000, 10,000 and 100,000 battles: the time from opening the page to its
first render (the count, a page of battles and the first battle side by side), and from there to
the next page, in headless Chromium against a real Streamlit. Goal: at most 2 s at 100,000.

The battles are fictional, generated here (8 models, markdown responses of 300 to 2,400
characters, a few properties with evidence per battle), and written to a fresh warehouse through
`Warehouse` as the assets write them. Each size is opened 3 times; min, median and max printed.

    .venv/bin/python bench/explorer_scale.py [--sizes 1000 10000 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resources.warehouse import Warehouse  # noqa: E402

MODELS = [f"model-{c}" for c in "abcdefgh"]
WORDS = "the a model answer list code table step first then result data value because however".split()


def response(rng: np.random.Generator) -> str:
    parts = []
    for _ in range(rng.integers(2, 9)):
        kind = rng.integers(0, 4)
        words = " ".join(rng.choice(WORDS, rng.integers(20, 50)))
        parts.append({0: words, 1: "\n".join(f"- {w}" for w in words.split()[:6]), 2: f"**{words[:40]}** {words}",
                      3: f"```python\nprint({len(words)})\n```"}[int(kind)])
    return "\n\n".join(parts)


def battles(n: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    pairs = rng.choice(len(MODELS), size=(n, 2))
    pairs[:, 1] = (pairs[:, 0] + 1 + rng.integers(0, len(MODELS) - 1, n)) % len(MODELS)
    texts = [(" ".join(rng.choice(WORDS, 12)), response(rng), response(rng)) for _ in range(min(n, 2000))]
    take = [texts[i % len(texts)] for i in range(n)]
    ids = [f"b{i:07d}" for i in range(n)]
    frame = pd.DataFrame({
        "battle_id": ids, "model_a": [MODELS[a] for a in pairs[:, 0]], "model_b": [MODELS[b] for b in pairs[:, 1]],
        "winner": rng.choice(["model_a", "model_b", "tie"], n), "prompt": [t[0] for t in take],
        "response_a": [t[1] for t in take], "response_b": [t[2] for t in take]})
    frame["prompt_turns"] = frame.prompt.map(lambda t: [t])
    frame["response_a_turns"] = frame.response_a.map(lambda t: [t])
    frame["response_b_turns"] = frame.response_b.map(lambda t: [t])
    frame["n_turns"] = 1
    properties = pd.DataFrame({
        "property_id": [f"{b}:{k}" for b in ids for k in range(2)], "battle_id": np.repeat(ids, 2),
        "side": np.tile(["A", "B"], n), "property_description": "uses a list",
        "evidence": [json.dumps([r[:30]]) for r in np.repeat(frame.response_a.to_numpy(), 2)],
        "fine_cluster_id": rng.integers(0, 20, 2 * n), "coarse_cluster_id": rng.integers(0, 5, 2 * n)})
    properties["model"] = np.where(properties.side == "A", np.repeat(frame.model_a, 2), np.repeat(frame.model_b, 2))
    return {"arena.source_battles": frame, "arena.battles": frame,
            "arena.clustered_properties": properties.assign(fine_label="a list", coarse_label="lists", category="Style",
                                                            impact="Low", behavior_type="Style")}


def timed(page, url: str) -> tuple[float, str]:
    """Seconds from opening the explorer to its first battle rendered side by side; the top row's id."""
    start = time.perf_counter()
    page.goto(url)
    page.locator('.vs-response[data-side="B"]').first.wait_for()
    return time.perf_counter() - start, page.locator("table.vs-battles a").first.inner_text()


def serve(settings: Path, log: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app/Home.py"),
                               "--server.headless", "true", "--server.address", "127.0.0.1",
                               "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                              cwd=ROOT, env={**os.environ, "VIBESCOPE_SETTINGS": str(settings)},
                              stdout=log.open("w"), stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return server, port
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"streamlit did not start: {log.read_text()[-2000:]}")


def project(folder: Path) -> Path:
    """The project's settings with every path moved under `folder`: a warehouse of its own."""
    text = (ROOT / "dagster_project.toml").read_text()
    for key, value in tomllib.loads(text)["paths"].items():
        text = text.replace(f'{key} = "{value}"', f'{key} = "{folder / value}"', 1)
    (folder / "dagster_project.toml").write_text(text)
    return folder / "dagster_project.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"explorer bench, {cpu}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"{'battles':>8} {'first render s (min/median/max)':>34} {'next page s (min/median/max)':>32}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            settings = project(Path(tmp))
            Warehouse(settings_file=str(settings)).write_tables(battles(n))
            server, port = serve(settings, Path(tmp) / "streamlit.log")
            try:
                first, following = [], []
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path="/usr/bin/chromium", chromium_sandbox=False,
                                                args=["--headless=new", "--no-sandbox", "--disable-gpu"])
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.set_default_timeout(120_000)
                    timed(page, f"http://127.0.0.1:{port}/Arena_explorer")  # the server's first import
                    for _ in range(args.repeats):
                        seconds, top = timed(page, f"http://127.0.0.1:{port}/Arena_explorer")
                        first.append(seconds)
                        start = time.perf_counter()
                        page.get_by_test_id("stNumberInputStepUp").click()
                        page.wait_for_function(
                            f"() => document.querySelector('table.vs-battles a').innerText !== {top!r}")
                        page.locator('.vs-response[data-side="B"]').first.wait_for()
                        following.append(time.perf_counter() - start)
                    browser.close()
            finally:
                server.terminate()
                server.wait()
            fmt = lambda xs: f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}"  # noqa: E731
            print(f"{n:>8} {fmt(first):>34} {fmt(following):>32}", flush=True)


if __name__ == "__main__":
    main()
