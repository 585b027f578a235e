"""The anthropic backend through the real `anthropic` client against a local stand-in of Anthropic's
Messages and Message Batches endpoints on 127.0.0.1 (tests/helpers/anthropic_api.py): the CJE log
builder with its judge and oracle on it, the Message Batches lifecycle through `vibescope batch`,
what is refused at load, and where the key goes."""

import json

import dagster as dg
import pytest

from resources import build_resources
from resources.llm import LLM
from resources.settings import SettingsError, load_settings
from resources.warehouse import Warehouse
from tests.conftest import write_settings
from tests.helpers.anthropic_api import USAGE, AnthropicAPI, handler
from tests.helpers.json_server import serving
from vibescope.__main__ import main

PAIRED_KEY = "sk-ant-paired-DO-NOT-LEAK-0123456789"   # in VIBESCOPE_ANTHROPIC_KEY, paired with the stand-in
PROVIDER_KEY = "sk-ant-api-DO-NOT-LEAK-abcdef012345"  # in ANTHROPIC_API_KEY: for api.anthropic.com only
MODEL = "claude-haiku-4-5"
PRICE = (1.00, 5.00)  # [prices."claude-haiku-4-5"] in dagster_project.toml, USD per million tokens


def claude(name: str, url: str, max_tokens: int = 16) -> str:
    return (f'[roles.{name}]\nbackend = "anthropic"\nmodel = "{MODEL}"\nmax_tokens = {max_tokens}\n'
            f'base_url = "{url}"\napi_key_env = "VIBESCOPE_ANTHROPIC_KEY"\n\n')


def settings_with(tmp_path, roles: str, drop=("judge", "oracle")):
    text = write_settings(tmp_path / "s.toml").read_text()
    for name in drop:  # the shipped llamacpp roles go, the Claude ones come in
        start = text.index(f"[roles.{name}]")
        text = text[:start] + text[text.index("\n\n", start) + 2:]
    path = tmp_path / "s.toml"
    path.write_text(text + "\n" + roles)
    return path


def score_reply(params: dict) -> str:
    assert params["output_config"]["format"]["type"] == "json_schema"
    return json.dumps({"score": 7})


def test_judge_and_oracle_on_anthropic_with_cost_retries_and_the_key_at_its_host(tmp_path, monkeypatch):
    monkeypatch.setenv("VIBESCOPE_ANTHROPIC_KEY", PAIRED_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", PROVIDER_KEY)
    api = AnthropicAPI(score_reply, overloaded=2)  # two 529s first: the client's own backoff retries them
    import definitions

    with serving(handler(api)) as server:
        url = f"http://127.0.0.1:{server.server_port}"
        path = settings_with(tmp_path, claude("judge", url) + claude("oracle", url))
        monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
        selection = ["cje_logs/prompts", "cje_logs/responses", "cje_logs/policies", "cje_logs/prompt_responses",
                     "cje_logs/judge_scores", "cje_logs/oracle_labels", "core/llm_calls"]
        config = {"ops": {"cje_logs__prompts": {"config": {"max_samples": 3}},
                          "cje_logs__responses": {"config": {"target_policies": ["pi_clone"]}},
                          "cje_logs__oracle_labels": {"config": {"oracle_fraction": 1.0}}}}
        home = tmp_path / "dagster_home"
        home.mkdir()
        with dg.DagsterInstance.local_temp(str(home)) as instance:
            assert dg.materialize(definitions.defs.assets, resources=build_resources(str(path)), instance=instance,
                                  selection=selection, run_config=config).success

    wh = Warehouse(settings_file=str(path))
    judged = wh.query("SELECT * FROM cje_logs.judge_scores")
    assert len(judged) == 6 and (judged.deterministic_score == 0.7).all()
    assert judged.uncertainty_score.isna().all()   # no log-probabilities on this backend: one mode
    assert (wh.query("SELECT oracle_label FROM cje_logs.oracle_labels").oracle_label == 0.7).all()
    calls = wh.query("SELECT role, cached, cost_usd, error FROM core.llm_calls WHERE backend = 'anthropic'")
    assert sorted(calls.role.value_counts().items()) == [("judge", 6), ("oracle", 6)]
    assert calls.error.isna().all()
    # the clone's responses are the base's, so their requests are answered from the cache, for nothing
    paid, cached = calls[calls.cached == 0], calls[calls.cached == 1]
    usd = (USAGE["input_tokens"] * PRICE[0] + USAGE["output_tokens"] * PRICE[1]) / 1e6
    assert len(paid) >= 6 and paid.cost_usd.tolist() == pytest.approx([usd] * len(paid))
    assert (cached.cost_usd == 0).all()
    assert len(api.bodies) == len(paid) + 2   # every call once, the two overloaded answers retried

    # the paired key to its own host and nothing else; ANTHROPIC_API_KEY to nobody
    assert {key for _, key in api.keys} == {PAIRED_KEY}
    (tmp_path / "control.txt").write_text(f"x {PAIRED_KEY} y")
    holding = [f for f in tmp_path.rglob("*") if f.is_file()
               and any(k.encode() in f.read_bytes() for k in (PAIRED_KEY, PROVIDER_KEY))]
    assert holding == [tmp_path / "control.txt"], holding


def test_message_batches_through_vibescope_batch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIBESCOPE_ANTHROPIC_KEY", PAIRED_KEY)
    replies = iter([None, *["Answer."] * 5])   # the first request of the batch errors
    api = AnthropicAPI(lambda params: next(replies))
    with serving(handler(api)) as server:
        path = settings_with(tmp_path, claude("namer", f"http://127.0.0.1:{server.server_port}"), drop=("namer",))
        monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
        llm = LLM()
        client = llm.client("namer")
        requests = [{"method": "chat", "messages": [{"role": "system", "content": "Be brief."},
                                                    {"role": "user", "content": f"Name cluster {i}."}]}
                    for i in range(5)]
        from resources.llm import batch

        with pytest.raises(RuntimeError, match="5 of 5 requests wait for their batch"):
            batch.run(client, requests, llm.batches_folder, batches=True)
        name = f"adhoc__namer__{MODEL}.jsonl"

        def cli(*argv):
            capsys.readouterr()
            main(["batch", *argv])
            return capsys.readouterr().out

        assert "submitted as msgbatch_1" in cli("submit", name)
        sent = api.requests["msgbatch_1"]
        assert len(sent) == 5 and sent[0]["params"]["system"] == "Be brief."
        assert all(r["params"]["messages"][0]["role"] == "user" for r in sent)
        assert "in_progress" in cli("status", name)
        assert "still_running 1" in cli("ingest", name)
        api.complete()
        assert "ok 4, failed 1, unknown 0, still_running 0" in cli("ingest", name)
        assert "submitted as msgbatch_2" in cli("submit", name)   # the errored request alone
        assert len(api.requests["msgbatch_2"]) == 1
        api.complete()
        assert "ok 1, failed 0" in cli("ingest", name)
        answers = batch.run(client, requests, llm.batches_folder, batches=True)
    assert [a.text for a in answers] == ["Answer."] * 5
    calls = llm.cache.calls()
    answered = calls[calls.error.isna() & ~calls.cached.astype(bool)]
    usd = (USAGE["input_tokens"] * PRICE[0] + USAGE["output_tokens"] * PRICE[1]) / 1e6
    assert answered.cost_usd.tolist() == pytest.approx([usd * 0.5] * 5)   # at the batch rate
    assert calls.error.dropna().str.contains("msgbatch_1: api_error: the stand-in failed").sum() == 1
    assert api.bodies == []   # nothing went to the live endpoint


@pytest.mark.parametrize("role, why", [("classifier", "the A/B token"), ("policy.p0", "teacher forcing")])
def test_roles_that_need_logprobs_are_refused_when_the_settings_load(tmp_path, role, why):
    path = settings_with(tmp_path, "")
    text = path.read_text()
    start = text.index(f"[roles.{role}]")
    path.write_text(text[:start] + f'[roles.{role}]\nbackend = "anthropic"\nmodel = "{MODEL}"\n'
                    + text[text.index("\n", start) + 1:])
    with pytest.raises(SettingsError, match=rf"\[roles.{role}\] runs on backend anthropic.*{why}"):
        load_settings(path)


def test_the_reasoner_needs_no_logprobs_and_may_run_on_anthropic(tmp_path):
    path = settings_with(tmp_path, claude("policy.reasoner", "http://127.0.0.1:9/v1"), drop=())
    text = path.read_text()
    start = text.index("[roles.policy.reasoner]")
    path.write_text(text[:start] + text[text.index("\n\n", start) + 2:])   # the shipped one goes
    assert load_settings(path).role("policy.reasoner").backend == "anthropic"


def test_the_whole_run_on_anthropic_names_the_first_role_that_cannot(tmp_path, monkeypatch):
    monkeypatch.setenv("VIBESCOPE_BACKEND", "anthropic")
    with pytest.raises(SettingsError, match=r"\[roles.classifier\] runs on backend anthropic"):
        load_settings(write_settings(tmp_path / "s.toml"))


def test_a_missing_key_names_the_variable_and_a_refused_temperature_is_dropped(tmp_path, monkeypatch):
    api = AnthropicAPI(lambda params: "fine", refuse_sampling=True)
    with serving(handler(api)) as server:
        path = settings_with(tmp_path, claude("judge", f"http://127.0.0.1:{server.server_port}"), drop=("judge",))
        monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
        monkeypatch.delenv("VIBESCOPE_ANTHROPIC_KEY", raising=False)
        with pytest.raises(ValueError, match="no API key for http://127.0.0.1.*set the environment variable "
                                             "VIBESCOPE_ANTHROPIC_KEY"):
            LLM().client("judge")
        monkeypatch.setenv("VIBESCOPE_ANTHROPIC_KEY", PAIRED_KEY)
        client = LLM().client("judge")
        assert client.chat([{"role": "user", "content": "One."}]).text == "fine"
        assert client.chat([{"role": "user", "content": "Two."}]).text == "fine"
    # refused once with the role's temperature, then sent without sampling parameters
    assert ["temperature" in b for b in api.bodies] == [True, False, False]
    with pytest.raises(ValueError, match="the Messages API gives no log-probabilities"):
        client.choice_logprobs([{"role": "user", "content": "A or B?"}])
