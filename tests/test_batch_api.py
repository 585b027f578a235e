"""The Batch API lifecycle as a user runs it, `vibescope batch ...`, against a local fake of OpenAI's
Files and Batches endpoints on 127.0.0.1 (the openai client cannot tell), with a failed line, a
re-materialization between submit and ingest, and a resubmission; and `run-locally` on llama.cpp."""

import json

import dagster as dg
import pytest

from resources import build_resources
from resources.llm import LLM, batch
from resources.settings import load_settings
from resources.warehouse import Warehouse
from tests.conftest import write_settings
from tests.helpers.batch_api import BatchAPI, handler
from tests.helpers.json_server import serving
from vibescope.__main__ import main

LOCAL_DESCRIBER = '[roles.describer]\n'  # backend and model from [llm]: the embedded model
FILE = "arena.battle_differences__describer__gpt-4o-mini.jsonl"
PROPERTY = {"model": "A", "property_description": "Answers in a bulleted list", "category": "Formatting",
            "type": "General", "impact": "Low", "reason": "structure", "evidence": [], "contains_errors": False,
            "unexpected_behavior": False, "behavior_type": "Style"}


def fail_first_line() -> BatchAPI:
    """A fake whose first answered line of all fails; every other line gets one property."""
    left = {"failures": 1}

    def answer(custom_id: str, body: dict) -> str | None:
        assert body["response_format"]["type"] == "json_schema" and body["model"] == "gpt-4o-mini"
        if left["failures"]:
            left["failures"] -= 1
            return None
        return json.dumps({"properties": [PROPERTY]})

    return BatchAPI(answer)


def cli(capsys, *argv: str) -> str:
    capsys.readouterr()
    main(["batch", *argv])
    return capsys.readouterr().out


def differences(settings_file):
    return Warehouse(settings_file=str(settings_file)).query(
        "SELECT battle_id, properties_json, error FROM arena.battle_differences ORDER BY battle_id")


def test_batch_lifecycle_against_a_local_batch_api(tmp_path, monkeypatch, capsys):
    api = fail_first_line()
    with serving(handler(api)) as server:
        path = write_settings(tmp_path / "dagster_project.toml")
        path.write_text(path.read_text().replace(LOCAL_DESCRIBER, (
            f'[roles.describer]\nbackend = "openai"\nmodel = "gpt-4o-mini"\n'
            f'base_url = "http://127.0.0.1:{server.server_port}/v1"\n')))
        monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
        import definitions

        assert dg.materialize([*definitions.defs.assets], resources=build_resources(),
                              selection=dg.AssetSelection.assets(dg.AssetKey(["arena", "battles"])),
                              run_config={"ops": {"arena__battles": {"config": {
                                  "dataset": "fictional", "num_samples": 5}}}}).success

        out = cli(capsys, "write", "arena/battle_differences")
        assert f"{FILE}: requested 5, answered 0, failed 0, in_flight 0, pending 5" in out
        assert "stops until its requests are answered" in out
        assert "submitted as batch_1" in cli(capsys, "submit")
        assert api.uploaded_lines == [5]
        out = cli(capsys, "status")
        assert "in_flight 5, pending 0" in out and "submission 1 batch_1: 5 requests, in_progress" in out

        # materialized again before the batch is back: the file is rewritten, the batch id kept
        assert "in_flight 5" in cli(capsys, "write", "arena/battle_differences")
        meta = json.loads(batch.meta_path(load_settings().path("cache").parent / "batches" / FILE).read_text())
        assert [s["batch_id"] for s in meta["submissions"]] == ["batch_1"]
        assert "nothing to submit" in cli(capsys, "submit")  # every request is in flight

        api.complete()
        assert f"{FILE}: ok 4, failed 1, unknown 0, still_running 0" in cli(capsys, "ingest")
        calls = LLM().cache.calls()
        answered, failed = calls[calls.error.isna()], calls[calls.error.notna()]
        usage_usd = (3 * 0.15 + 1 * 0.60) / 1e6  # the fake's usage at gpt-4o-mini's [prices]
        assert len(answered) == 4 and answered.cost_usd.tolist() == pytest.approx([usage_usd * 0.5] * 4)
        assert (answered.asset == "arena/battle_differences").all() and not answered.cached.any()
        assert len(failed) == 1 and failed.error.iloc[0].startswith("batch batch_1: HTTP 500: the fake server failed")

        # the asset proceeds, with the failed line as its battle's error
        out = cli(capsys, "write", "arena/battle_differences")
        assert "answered 4, failed 1" in out and "the asset completed" in out
        rows = differences(path)
        assert rows.error.notna().sum() == 1 and rows.error.dropna().iloc[0].startswith("batch line failed: HTTP 500")
        assert rows.properties_json.notna().sum() == 4
        assert int((~LLM().cache.calls().cached).sum()) == 5  # reading the answers called nothing

        # resubmission sends the failed line only
        assert "submitted as batch_2" in cli(capsys, "submit")
        assert api.uploaded_lines == [5, 1]
        api.complete()
        assert "ok 1, failed 0" in cli(capsys, "ingest")
        assert "answered 5, failed 0, in_flight 0, pending 0" in cli(capsys, "write", "arena/battle_differences")
        rows = differences(path)
        assert rows.error.isna().all() and rows.properties_json.notna().all()

        assert dg.materialize([*definitions.defs.assets], resources=build_resources(),
                              selection=dg.AssetSelection.assets(dg.AssetKey(["core", "llm_calls"]))).success
        logged = Warehouse(settings_file=str(path)).query(
            "SELECT count(*) FILTER (error LIKE 'batch batch_1:%') AS failed, sum(cost_usd) AS usd FROM core.llm_calls")
        assert logged.failed.iloc[0] == 1 and logged.usd.iloc[0] == pytest.approx(5 * usage_usd * 0.5)
        listed = cli(capsys, "list")
        assert "asset arena/battle_differences, role describer, openai:gpt-4o-mini, 2 submission(s)" in listed
        assert "requested 5, answered 5" in listed


def test_run_locally_on_llamacpp(settings_file, capsys):
    requests = [{"method": "chat", "messages": [{"role": "user", "content": f"Count to {i}."}], "max_tokens": 16}
                for i in range(1, 4)]
    requests.append({"method": "chat_json", "max_tokens": 48,
                     "messages": [{"role": "user", "content": "A JSON object with a colour."}],
                     "schema": {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}})
    llm = LLM()
    client = llm.client("describer")
    with pytest.raises(RuntimeError, match="4 of 4 requests wait for their batch"):
        batch.run(client, requests + requests[:1], llm.batches_folder, batches=True)
    path = llm.batches_folder / "adhoc__describer__smollm2-135m-instruct.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 4  # the repeated request is written once
    assert {tuple(sorted(x)) for x in lines} == {("body", "custom_id", "method", "url")}
    assert lines[-1]["body"]["response_format"]["type"] == "json_schema"

    assert "ok 4, failed 0" in cli(capsys, "run-locally", path.name)
    replies = batch.run(client, requests, llm.batches_folder, batches=True)
    assert all(r.cached for r in replies[:3]) and replies[3].ok and "colour" in replies[3].value
    assert int((~llm.cache.calls().cached).sum()) == 4  # each request reached llama.cpp once

    with pytest.raises(ValueError, match="only a role on backend openai or anthropic has a batch API"):
        batch.submit(client, path)
    meta = json.loads(batch.meta_path(path).read_text())
    batch.meta_path(path).write_text(json.dumps({**meta, "model": "gpt-4o-mini"}))
    with pytest.raises(ValueError, match="written for llamacpp:gpt-4o-mini"):
        batch.run_locally(client, path)


def test_an_unknown_batch_file_is_named(settings_file, capsys):
    with pytest.raises(SystemExit, match="no such batch file: .*nowhere.jsonl .vibescope batch list shows them."):
        cli(capsys, "status", "nowhere.jsonl")
    assert "no batch files in" in cli(capsys, "list")
