"""A researcher's own files through the commands, as the README's recipes show them: each run
reads the whole input it is named and nothing bundled (no demo profile: it is unset here), and the
README's recipe commands run as written (on copies of the files they name, so that any read of a
bundled file would show in the warehouse)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from tests.conftest import ROOT, write_settings

SAMPLE = ROOT / "data" / "samples"
BUNDLED = ("data/samples", "sample:")
# per command, flags that keep the test's run small on the embedded model (the README's commands
# read everything; the test only bounds how many rows the LLM steps see)
SMALL = {"diff": ["--max-rows", "4", "--batch-size", "2", "--max-unseen", "2"],
         "acts": ["--n-examples", "3", "--methods", "spherical_kmeans", "--clusters", "2", "--repetitions", "1",
                  "--n-test", "2"]}


def project(tmp_path: Path) -> tuple[Path, dict]:
    """A fresh project under tmp_path and the environment of a user's shell: no profile."""
    settings = write_settings(tmp_path / "dagster_project.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBESCOPE_")}
    return settings, {**env, "VIBESCOPE_SETTINGS": str(settings)}


def vibescope(args: list[str], env: dict, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "vibescope", *args], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return out


def snapshot(settings: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(settings.parent / "data" / "warehouse_snapshot.duckdb"), read_only=True)


def bundled_mentions(settings: Path) -> list[str]:
    """Every table column (and run config) of the warehouse in which a bundled path appears."""
    found = []
    with snapshot(settings) as con:
        columns = con.sql("""SELECT table_schema, table_name, column_name FROM information_schema.columns
                             WHERE data_type IN ('VARCHAR', 'JSON')""").fetchall()
        for schema, table, column in columns:
            hits = con.sql(f'SELECT count(*) FROM "{schema}"."{table}" WHERE '
                           + " OR ".join(f"\"{column}\"::VARCHAR LIKE '%{b}%'" for b in BUNDLED)).fetchone()[0]
            if hits:
                found.append(f"{schema}.{table}.{column} ({hits} rows)")
    return found


def test_cje_on_a_users_logs_reads_them_alone_and_claims_only_what_they_carry(tmp_path):
    """The issue's case: cje-eval logs with two targets of the user's own names (no clone), 480 of
    1000 rows labelled, no fresh draws; `vibescope cje FILE` and nothing else."""
    rows = [json.loads(line) for line in (SAMPLE / "cje_arena_sample" / "logged_data.jsonl").read_text().splitlines()]
    for r in rows:
        t = r["target_policy_logprobs"]
        r["target_policy_logprobs"] = {"premium": t["parallel_universe_prompt"], "evasive": t["unhelpful"]}
    logs = tmp_path / "my_logs.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    settings, env = project(tmp_path)
    out = vibescope(["cje", str(logs)], env, tmp_path)

    assert bundled_mentions(settings) == []
    labels = sum(r.get("oracle_label") is not None for r in rows)
    with snapshot(settings) as con:
        assert con.sql("SELECT n_labels FROM cje.calibration_summary").fetchone()[0] == labels == 480
        assert con.sql("SELECT count(*) FROM cje.responses WHERE source <> 'logged'").fetchone()[0] == 0
        assert con.sql("SELECT list(policy ORDER BY policy) FROM cje.policies WHERE declared_identical").fetchone()[0] is None
    results = json.loads(next((Path(p) for p in re.findall(r"run folder: (\S+) ", out.stdout))).joinpath(
        "token_level_cje_results.json").read_text())
    assert results["estimator"] == "cal_ips" and "no fresh draws" in results["estimator_rule"]
    assert "CJE estimates: cal_ips (auto: no fresh draws" in out.stdout
    # a quiet console: no Dagster DEBUG event line, the decision and its table once, where the full log is
    console = out.stdout + out.stderr
    assert " - DEBUG - " not in console and console.count("CJE estimates: cal_ips") == 1
    assert console.count("Best policy by") + console.count("No best policy") == 1
    if env.get("DAGSTER_HOME"):  # a run kept in an instance says where its every event is
        assert re.search(r"^run [0-9a-f-]{36}: every event in `vibescope run-report", out.stdout, re.M)
    # Kish's ESS of each target's weights, from the file itself: below 10% no IPS-family interval is given
    base = np.array([r["base_policy_logprob"] for r in rows])
    for policy in ("premium", "evasive"):
        log_w = np.array([r["target_policy_logprobs"][policy] for r in rows]) - base
        w = np.exp(log_w - log_w.max())
        ess_share = w.sum() ** 2 / (w ** 2).sum() / len(w)
        for estimator in ("ips", "snips", "cal_ips"):
            shown = results["results_by_estimator"][estimator][policy]
            if ess_share < 0.10:
                assert shown["v_hat"] is None and shown["ci_low"] is None and "effective sample size" in shown["reason"]
            else:
                assert 0 <= shown["ci_low"] <= shown["v_hat"] <= shown["ci_high"] <= 1


def readme_recipes() -> list[list[str]]:
    """The `vibescope ...` commands of the README's "Your own data" section, split as a shell would."""
    import shlex

    text = (ROOT / "README.md").read_text()
    section = text.split("## Your own data", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.startswith("vibescope ")]


def test_the_readme_has_a_recipe_per_analysis_and_stays_short():
    commands = {c[1] for c in readme_recipes()}
    assert {"arena", "cje", "diff", "acts"} <= commands
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def _as_users_files(command: list[str], inputs: Path) -> list[str]:
    """The command with every bundled path it names copied to `inputs` (as a user's own files)."""
    out = []
    for arg in command[1:]:
        if arg.startswith("data/samples/"):
            source, target = ROOT / arg, inputs / arg.replace("/", "_")
            (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
            arg = str(target)
        out.append(arg)
    return out


# the LLM stages each recipe reaches (the arena's reads properties, so no describer), in the order it
# reaches them: each run of the recipe is killed in one and the next resumes it (tests/helpers/kill.py)
RECIPE_STAGES = {"arena": ["arena/prompt_categories", "arena/property_clusters"], "diff": ["diff/iterations"],
                 "acts": ["acts/cluster_titles", "acts/grades"], "cje": []}


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in readme_recipes() if "--base-url" not in c], ids=lambda c: c[1])
def test_readme_recipe_runs_on_the_files_it_names_and_reads_nothing_else(command, tmp_path):
    """... and killed in each of its LLM stages in turn, the next run resumes it asking no answer twice."""
    from resources.warehouse import Warehouse
    from tests.helpers.kill import run_killed_in_each

    settings, env = project(tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    args = _as_users_files(command, inputs) + SMALL.get(command[1], [])
    out = run_killed_in_each([sys.executable, "-m", "vibescope", *args], env, tmp_path, RECIPE_STAGES[command[1]],
                             Warehouse(settings_file=str(settings)), settings.parent / "data" / "llm_cache.sqlite")
    assert "\n== " in out or "CJE estimates" in out  # its headline table
    assert bundled_mentions(settings) == []
    with snapshot(settings) as con:
        if command[1] == "arena":  # every battle of the file, none sampled away
            n = len((inputs / command[2].replace("/", "_")).read_text().splitlines())
            assert con.sql("SELECT count(*) FROM arena.battles").fetchone()[0] == n
            imported = con.sql("SELECT count(*) FROM arena.behavior_properties").fetchone()[0]
            assert imported == sum(bool(json.loads(line).get("property_description")) for line in
                                   (inputs / command[4].replace("/", "_")).read_text().splitlines())
            # the recipe's own behaviours, scored on every battle in both orders (answered or the error kept)
            given = command[command.index("--behaviours") + 1]
            names = {line.split("name: ", 1)[1] for line in (ROOT / given).read_text().splitlines() if "name: " in line}
            scored = con.sql("SELECT behaviour, count(*) AS calls, count(answer) + count(error) AS kept "
                             "FROM arena.behaviour_scores GROUP BY behaviour").df().set_index("behaviour")
            assert names <= set(scored.index) and (scored.calls == 2 * n).all() and (scored.kept == scored.calls).all()
        if command[1] == "acts":  # the README's sweep: every layer it names clustered, named and graded
            layers = [int(x) for x in command[command.index("--layers") + 1:] if x.isdigit()]
            assert len(layers) >= 2
            for table in ("activation_means", "cluster_fits", "cluster_titles", "grades", "repetition_scores"):
                assert con.sql(f"SELECT list(DISTINCT layer ORDER BY layer) FROM acts.{table}").fetchone()[0] == layers
            scored = con.sql("SELECT layer, mean FROM acts.clustering_scores WHERE metric = 'final_score' "
                             "AND kind = 'graded' ORDER BY layer").fetchall()
            assert [layer for layer, _ in scored] == layers and all(0 <= m <= 1 for _, m in scored)
            # one forward pass, two layers: the vectors differ between them
            a, b = (np.array(con.sql(f"SELECT vector FROM acts.activations WHERE layer = {x} ORDER BY sentence_id "
                                     "LIMIT 1").fetchone()[0]) for x in layers[:2])
            assert not np.allclose(a, b, atol=1e-3)


@pytest.mark.slow
def test_one_flag_puts_every_role_on_a_server(llama_server, tmp_path):
    """The README's server recipe against llama.cpp's OpenAI-compatible server on 127.0.0.1: the
    describer and the classifier both answer from it (core.llm_calls), and the run says so first."""
    (command,) = [c for c in readme_recipes() if "--base-url" in c]
    settings, env = project(tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    args = _as_users_files(command, inputs)
    args[args.index("--base-url") + 1] = llama_server
    args[args.index("--model") + 1] = "smollm2"
    out = vibescope(args + SMALL["diff"], env, tmp_path)
    for role in ("describer", "classifier"):
        assert re.search(rf"role {role} +openai: smollm2 at {re.escape(llama_server)}", out.stdout), out.stdout[:2000]
    from resources.llm.cache import CallCache

    calls = CallCache(settings.parent / "data" / "llm_cache.sqlite").calls()  # the call log core.llm_calls copies
    used = calls[calls.asset.str.startswith("diff")].groupby("role").apply(
        lambda g: sorted(set(g.backend + ":" + g.model)), include_groups=False).to_dict()
    assert used == {"classifier": ["openai:smollm2"], "describer": ["openai:smollm2"]}


def test_a_step_with_no_input_named_says_which_key_to_set(tmp_path):
    """No profile, no input: the step stops naming the run-config key, and reads no sample."""
    settings, env = project(tmp_path)
    code = ("import dagster as dg, definitions\n"
            "r = dg.materialize(definitions.defs.assets, resources=definitions.defs.resources,"
            " selection=['diff/rows'], raise_on_error=False)\n"
            "print(r.get_step_failure_events()[0].event_specific_data.error.cause.message)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert "no input named: set diff__rows.a in the run config" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
