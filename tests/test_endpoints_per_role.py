"""Every role its own endpoint and key: two llama.cpp servers on 127.0.0.1, each with its own API key,
the policies on one and the judge and oracle on the other, in one materialization of the CJE log
builder (as the source tools put policies on a log-prob provider and the judge on another)."""

import sys

import dagster as dg
import numpy as np
import pytest

from resources.llm.backend_llamacpp import embedded_gguf
from resources.settings import SettingsError, load_settings
from tests.conftest import free_port, serve, write_settings


def _server(tmp_path, name: str, alias: str, key: str):
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", embedded_gguf(), "--model_alias", alias,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--logits_all", "true",
               "--api_key", key]
    return serve(command, f"http://127.0.0.1:{port}/v1/models", tmp_path / f"{name}.log"), f"http://127.0.0.1:{port}/v1"


def _roles(policies_url: str, graders_url: str, grader_key_env: str = "GRADERS_KEY") -> str:
    policy = (f'backend = "openai"\nmodel = "policies"\nbase_url = "{policies_url}"\napi_key_env = "POLICIES_KEY"\n'
              'chat_template = "smollm2-135m-instruct"\ntemperature = 1.0\ntop_p = 1.0\nmax_tokens = 12\n')
    grader = (f'backend = "openai"\nmodel = "graders"\nbase_url = "{graders_url}"\napi_key_env = "{grader_key_env}"\n'
              'temperature = 0.0\nmax_tokens = 16\n')
    return "".join(f"[roles.{role}]\n{body}\n" for role, body in (
        ("policy.p0", policy + 'system_prompt = "Be helpful."\n'),
        ("policy.pi_clone", policy + 'system_prompt = "Be helpful."\n'),
        ("policy.pi_bad", policy + 'system_prompt = "Be unhelpful."\n'),
        ("judge", grader), ("oracle", grader)))


def _settings(tmp_path, roles: str):
    """The project's settings with the five roles replaced."""
    text = write_settings(tmp_path / "dagster_project.toml").read_text()
    for role in ("policy.p0", "policy.pi_clone", "policy.pi_bad", "judge", "oracle"):
        start = text.index(f"[roles.{role}]")
        text = text[:start] + text[text.index("\n\n", start) + 2:]
    path = tmp_path / "dagster_project.toml"
    path.write_text(text + "\n" + roles)
    return path


def _build(path):
    import definitions
    from resources import build_resources

    selection = ["cje_logs/prompts", "cje_logs/policies", "cje_logs/responses", "cje_logs/prompt_responses",
                 "cje_logs/teacher_forced_logprobs", "cje_logs/judge_scores", "cje_logs/oracle_labels"]
    return dg.materialize(definitions.defs.assets, resources=build_resources(str(path)), selection=selection,
                          run_config={"ops": {"cje_logs__prompts": {"config": {"max_samples": 2}}}},
                          raise_on_error=False)


@pytest.mark.slow
def test_policies_on_one_server_judge_and_oracle_on_another(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICIES_KEY", "key-for-policies")
    monkeypatch.setenv("GRADERS_KEY", "key-for-graders")
    policies_server, policies_url = _server(tmp_path, "policies", "policies", "key-for-policies")
    graders_server, graders_url = _server(tmp_path, "graders", "graders", "key-for-graders")
    with policies_server, graders_server:
        path = _settings(tmp_path, _roles(policies_url, graders_url))
        monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
        result = _build(path)
        assert result.success, [e.event_specific_data.error.message for e in result.get_step_failure_events()]

        from resources.llm import LLM
        from resources.warehouse import Warehouse

        calls = LLM().cache.calls()
        served = calls.groupby("role").model.unique().to_dict()
        assert {r: list(m) for r, m in served.items()} == {
            "policy.p0": ["policies"], "policy.pi_clone": ["policies"], "policy.pi_bad": ["policies"],
            "judge": ["graders"], "oracle": ["graders"]}
        assert calls.error.isna().all()
        scores = calls[calls.kind == "score"]
        clone, p0 = (set(scores[scores.role == f"policy.{p}"].request_hash) for p in ("pi_clone", "p0"))
        assert clone and not clone & p0  # pi_clone's log-probabilities are its own calls, not p0's cached answers
        posts = {name: (tmp_path / f"{name}.log").read_text().count("POST /v1/") for name in ("policies", "graders")}
        assert posts["policies"] >= 2 * 3 and posts["graders"] >= 2 * 3  # 2 prompts x 3 policies each way
        tf = Warehouse().query("SELECT policy, logprob FROM cje_logs.teacher_forced_logprobs ORDER BY prompt_id")
        p0, clone = tf[tf.policy == "p0"].logprob.to_numpy(), tf[tf.policy == "pi_clone"].logprob.to_numpy()
        # a call of its own on the server, which does not repeat its teacher forcing to the bit
        assert len(p0) == 2 and (p0 < 0).all() and (np.abs(p0 - clone) < 0.5).all()

        # the judge given the policies' key: the graders' server refuses it, and the error says whose call
        (tmp_path / "wrong").mkdir()
        wrong = _settings(tmp_path / "wrong", _roles(policies_url, graders_url, grader_key_env="POLICIES_KEY"))
        monkeypatch.setenv("VIBESCOPE_SETTINGS", str(wrong))
        failed = _build(wrong)
        messages = [e.event_specific_data.error.cause.message for e in failed.get_step_failure_events()]
        assert any("role 'judge' on openai:graders failed" in m and "401" in m for m in messages), messages
        assert not any("key-for-policies" in m for m in messages)  # the key itself never shows


def test_server_settings_on_a_local_backend_are_refused_at_load(tmp_path):
    path = write_settings(tmp_path / "s.toml", '[roles.critic]\nbackend = "llamacpp"\nbase_url = "http://127.0.0.1:1/v1"\n'
                                               'api_key_env = "KEY"\n')
    with pytest.raises(SettingsError, match=r"'roles.critic'.*base_url, api_key_env are for backend openai.*llamacpp"):
        load_settings(path)
