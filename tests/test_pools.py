"""Steps that run a model on this machine share one Dagster concurrency pool; remote ones do not."""

import shutil
from pathlib import Path

import dagster as dg

from assets.core.llm_calls import LLM_KIND
from assets.core.pools import LOCAL_MODEL_POOL, model_pool
from tests.conftest import ROOT, write_settings

LOCAL_RESOURCES = {"embeddings", "hidden_states"}


def test_every_local_model_step_takes_the_pool_and_no_other_step_does():
    import definitions

    pooled, expected = set(), set()
    for a in definitions.defs.assets:
        if not isinstance(a, dg.AssetsDefinition) or not a.is_executable:
            continue
        kinds = {k for spec in a.specs for k in spec.kinds}
        if a.op.pool == LOCAL_MODEL_POOL:
            pooled.add(a.op.name)
        # the project's settings put every role on the embedded llama.cpp model
        if (LLM_KIND in kinds and a.op.name != "core__llm_calls") or a.required_resource_keys & LOCAL_RESOURCES:
            expected.add(a.op.name)
    assert pooled == expected
    assert {"diff__iterations", "arena__battle_differences", "acts__activations", "arena__property_clusters"} <= pooled


def test_roles_on_a_remote_backend_take_no_slot(tmp_path, monkeypatch):
    path = write_settings(tmp_path / "remote.toml")
    text = path.read_text().replace('backend = "llamacpp"', 'backend = "openai"')
    path.write_text(text)
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
    assert model_pool("judge") is None and model_pool("policy.*") is None and model_pool("*") is None
    assert model_pool(local=True) == LOCAL_MODEL_POOL  # embeddings and hidden states stay local
    mixed = tmp_path / "mixed.toml"
    mixed.write_text(text.replace('[roles.policy.pi_bad]', '[roles.policy.pi_bad]\nbackend = "llamacpp"'))
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(mixed))
    assert model_pool("policy.*") == LOCAL_MODEL_POOL and model_pool("policy.p0") is None


def test_the_project_instance_runs_one_local_model_step_at_a_time(tmp_path):
    shutil.copy(ROOT / "dagster_instance.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_a_killed_process_not_yet_reaped_counts_as_gone():
    """A run's worker killed with its parent is a zombie until something reaps it, and a zombie
    answers signal 0: its pool slot must be freed all the same (else the next run waits for ever)."""
    import subprocess
    import time

    from vibescope.slots import _alive

    child = subprocess.Popen(["sleep", "60"])
    assert _alive(child.pid)
    child.kill()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not _alive(child.pid)  # killed, not reaped: a zombie
    child.wait()
    assert not _alive(child.pid)
