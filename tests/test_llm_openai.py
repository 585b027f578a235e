"""The openai backend against llama.cpp's OpenAI-compatible server on 127.0.0.1, and its faults."""

import json

import numpy as np
import pytest

from resources.llm import LLM, CapabilityError, LLMBackendError, LLMConfigError
from tests.conftest import write_settings
from tests.helpers.json_server import JsonHandler, completion, serving

Q = [{"role": "user", "content": "Name one colour of the rainbow."}]


def openai_settings(tmp_path, monkeypatch, base_url, model="smollm2", extra=""):
    roles = "".join(
        f'[roles."{role}"]\nbackend = "openai"\nmodel = "{model}"\nmax_tokens = 32\n'
        f'chat_template = "smollm2-135m-instruct"\n' for role in ("remote", "remote_classifier"))
    path = write_settings(tmp_path / "s.toml", roles + extra)
    text = path.read_text().replace('base_url = ""', f'base_url = "{base_url}"')
    path.write_text(text.replace("max_retries = 4", "max_retries = 2"))
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
    return LLM(settings_file=str(path))


@pytest.mark.slow
def test_chat_json_choice_and_scoring_through_the_server(llama_server, tmp_path, monkeypatch):
    llm = openai_settings(tmp_path, monkeypatch, llama_server)
    remote = llm.client("remote")
    reply = remote.chat(Q)
    assert reply.text and reply.prompt_tokens > 0 and not reply.cached
    assert remote.chat(Q).cached

    person = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    out = remote.chat_json([{"role": "user", "content": "A JSON object with a name."}], person)
    assert out.ok, out.raw

    # the options' log-probabilities over HTTP are the in-process model's (the server's top list
    # names an option where the in-process backend scores it, to the kernels' difference)
    question = [{"role": "user", "content": "Is fire hot? Answer only with 'A' for yes or 'B' for no."}]
    local = LLM(settings_file=str(tmp_path / "s.toml"), cache_path=str(tmp_path / "l.sqlite"))
    choice = llm.client("remote_classifier").choice_logprobs(question)
    own = local.client("classifier").choice_logprobs(question)
    assert set(choice.logprobs) == set(own.logprobs) == {"A", "B"}
    shown = [o for o, v in choice.logprobs.items() if v is not None]
    assert shown, choice
    for option in shown:
        assert own.logprobs[option] is not None and abs(choice.logprobs[option] - own.logprobs[option]) < 0.1

    # teacher forcing over HTTP (echo + logprobs) agrees with the in-process backend
    text = "Red is a colour of the rainbow."
    model = dict(temperature=1.0, top_p=1.0)  # what a server's echo gives
    over_http = remote.score_sequence(Q, text, **model)
    in_process = local.client("describer").score_sequence(Q, text, **model)
    assert over_http.tokens == in_process.tokens
    # one model, one GGUF file: the first tokens agree to 1e-7 and later ones by at most 0.102 nats
    # (measured: the server's batching changes the arithmetic), so 0.15; a wrong template or an
    # off-by-one token differs by whole nats
    gap = np.abs(np.array(over_http.token_logprobs) - np.array(in_process.token_logprobs))
    print(f"largest per-token gap over HTTP: {gap.max():.4f} nats")
    assert gap.max() < 0.15
    assert abs(over_http.logprob - in_process.logprob) < 0.1 * len(gap) ** 0.5


@pytest.mark.slow
def test_prompt_over_the_servers_window_is_cut_and_flagged(llama_server, tmp_path, monkeypatch):
    """The server (n_ctx 2048) refuses ~6k tokens; the backend cuts the prompt and answers."""
    llm = openai_settings(tmp_path, monkeypatch, llama_server)
    essay = " ".join(f"Sentence {i} of a very long user message about rainbows." for i in range(600))
    reply = llm.client("remote").chat([{"role": "user", "content": essay + "\nName one colour."}])
    assert reply.truncated and reply.text and reply.prompt_tokens < 2048
    assert not llm.client("remote").chat(Q).truncated


@pytest.mark.slow
def test_unknown_model_lists_the_served_ones(llama_server, tmp_path, monkeypatch):
    llm = openai_settings(tmp_path, monkeypatch, llama_server, model="gpt-4o")
    with pytest.raises(LLMConfigError, match="'gpt-4o' is not served.*served models: smollm2"):
        llm.client("remote").chat(Q)


def test_missing_api_key_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = openai_settings(tmp_path, monkeypatch, "")
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY"):
        llm.client("remote")


class FlakyServer(JsonHandler):
    """Answers /v1/models, then `fail` times with `status`, then a valid chat completion."""

    counts = {"chat": 0}
    fail, status = 0, 503
    content, refuse_lengths, bodies = "fine", False, []

    def _send(self, status, body):
        self.send_json(status, body, retry_after_ms="10")

    def do_GET(self):
        self._send(200, {"object": "list", "data": [{"id": "flaky", "object": "model"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FlakyServer.bodies.append(body)
        FlakyServer.counts["chat"] += 1
        if FlakyServer.counts["chat"] <= FlakyServer.fail:
            self._send(FlakyServer.status, {"error": {"message": "try later"}})
            return
        if FlakyServer.refuse_lengths and "maxLength" in json.dumps(body.get("response_format")):
            self._send(400, {"error": {"message": "Invalid schema for response_format 'output': In context=("
                                                  "'properties', 'name'), 'maxLength' is not permitted.",
                                       "type": "invalid_request_error"}})
            return
        self._send(200, completion(FlakyServer.content, "flaky"))


@pytest.fixture
def flaky():
    FlakyServer.content, FlakyServer.refuse_lengths, FlakyServer.bodies = "fine", False, []
    with serving(FlakyServer) as server:
        yield server


@pytest.mark.parametrize("status", [429, 503])
def test_transient_errors_are_retried_then_succeed(flaky, tmp_path, monkeypatch, status):
    FlakyServer.counts["chat"], FlakyServer.fail, FlakyServer.status = 0, 2, status
    llm = openai_settings(tmp_path, monkeypatch, f"http://127.0.0.1:{flaky.server_port}/v1", "flaky")
    assert llm.client("remote").chat(Q).text == "fine"
    assert FlakyServer.counts["chat"] == 3


def test_persistent_errors_fail_clearly_and_keep_finished_calls(flaky, tmp_path, monkeypatch):
    FlakyServer.counts["chat"], FlakyServer.fail, FlakyServer.status = 0, 0, 503
    llm = openai_settings(tmp_path, monkeypatch, f"http://127.0.0.1:{flaky.server_port}/v1", "flaky")
    client = llm.client("remote")
    assert client.chat(Q).text == "fine"  # a finished call
    FlakyServer.fail = 10**6
    with pytest.raises(LLMBackendError, match=r"role 'remote' on openai:flaky failed.*503"):
        client.chat([{"role": "user", "content": "another question"}])
    assert FlakyServer.counts["chat"] == 1 + 3  # max_retries = 2: three tries
    assert client.chat(Q).cached  # the finished call is still cached
    calls = llm.cache.calls()
    assert calls.error.notna().sum() == 1 and "503" in calls.error.dropna().iloc[0]


def test_a_server_that_refuses_string_lengths_gets_the_schema_without_them(flaky, tmp_path, monkeypatch):
    FlakyServer.counts["chat"], FlakyServer.fail = 0, 0
    FlakyServer.content, FlakyServer.refuse_lengths = '{"name": "Ada"}', True
    llm = openai_settings(tmp_path, monkeypatch, f"http://127.0.0.1:{flaky.server_port}/v1", "flaky")
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}, "required": ["name"]}
    client = llm.client("remote")
    assert client.chat_json(Q, schema).value == {"name": "Ada"}
    sent = [b["response_format"]["json_schema"]["schema"]["properties"]["name"] for b in FlakyServer.bodies]
    assert sent == [{"type": "string", "maxLength": 20}, {"type": "string"}]
    client.chat_json([{"role": "user", "content": "again"}], schema)
    assert "maxLength" not in json.dumps(FlakyServer.bodies[-1]) and len(FlakyServer.bodies) == 3


def test_connection_refused_is_a_clear_failure(tmp_path, monkeypatch):
    from tests.conftest import free_port

    llm = openai_settings(tmp_path, monkeypatch, f"http://127.0.0.1:{free_port()}/v1", "x")
    with pytest.raises(LLMBackendError, match="Connection"):
        llm.client("remote").chat(Q)


def test_scoring_without_a_chat_template_names_backends_that_can(flaky, tmp_path, monkeypatch):
    # At temperature 1, top_p 1 the model's log-probabilities are the sampling distribution's,
    # so the only thing missing is the chat template.
    path = write_settings(tmp_path / "s.toml",
                          '[roles.r]\nbackend = "openai"\nmodel = "flaky"\ntemperature = 1.0\ntop_p = 1.0\n')
    path.write_text(path.read_text().replace('base_url = ""', f'base_url = "http://127.0.0.1:{flaky.server_port}/v1"'))
    with pytest.raises(CapabilityError, match="llamacpp, vllm"):
        LLM(settings_file=str(path)).client("r").score_sequence(Q, "text")
