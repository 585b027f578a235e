"""dagster_project.toml: validated at load, errors name the key and the allowed values."""

import subprocess
import sys

import pytest

from resources.settings import SettingsError, load_settings
from tests.conftest import ROOT, write_settings


def test_project_settings_load_with_every_role():
    s = load_settings()
    assert {"describer", "classifier", "judge", "oracle", "namer"} <= set(s.roles)
    assert s.path("warehouse").is_absolute()


def test_bad_backend_names_key_and_allowed_values(tmp_path):
    path = write_settings(tmp_path / "s.toml")
    path.write_text(path.read_text().replace('[roles.judge]\n', '[roles.judge]\nbackend = "llamacp"\n'))
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    msg = str(err.value)
    assert "roles.judge.backend" in msg and "llamacp" in msg
    assert all(b in msg for b in ("llamacpp", "openai", "vllm"))


def test_bad_embedding_dtype_names_key_and_allowed_values(tmp_path):
    path = write_settings(tmp_path / "s.toml")
    path.write_text(path.read_text().replace('dtype = "auto"   # auto = bfloat16', 'dtype = "bf16"   #'))
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    msg = str(err.value)
    assert "embeddings.dtype" in msg and "bf16" in msg
    assert all(d in msg for d in ("auto", "float32", "bfloat16", "float16"))


def test_unknown_key_is_named(tmp_path):
    path = write_settings(tmp_path / "s.toml", "[embeddings2]\nmodel = 'x'\n")
    with pytest.raises(SettingsError, match="unknown key 'embeddings2'"):
        load_settings(path)


def test_out_of_range_value_is_named(tmp_path):
    path = write_settings(tmp_path / "s.toml")
    path.write_text(path.read_text().replace("max_workers = 8", "max_workers = 0"))
    with pytest.raises(SettingsError, match="backends.openai.max_workers"):
        load_settings(path)


def test_policy_roles_are_named_with_a_dot(tmp_path):
    path = write_settings(tmp_path / "s.toml", '[roles.policy.extra]\nbackend = "llamacpp"\n'
                                               'system_prompt = "Be helpful."\ntemperature = 0.7\n')
    s = load_settings(path)
    assert s.role("policy.extra").temperature == 0.7 and s.role("policy.p0").temperature == 0.5
    with pytest.raises(SettingsError, match="configured roles: .*policy.extra"):
        s.role("policy.p9")


def test_environment_overrides_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("VIBESCOPE_WAREHOUSE", str(tmp_path / "elsewhere.duckdb"))
    assert load_settings().path("warehouse") == tmp_path / "elsewhere.duckdb"


def test_pipeline_defaults_reject_unknown_keys(tmp_path):
    path = write_settings(tmp_path / "s.toml")
    path.write_text(path.read_text().replace("health_roles =", "health_rolez ="))
    with pytest.raises(SettingsError, match=r"health_rolez.*\[pipelines.core\].*allowed: health_roles"):
        load_settings(path).pipeline_defaults("core", {"health_roles"})


def test_code_location_refuses_a_bad_settings_file(tmp_path):
    path = write_settings(tmp_path / "s.toml")
    path.write_text(path.read_text().replace('[roles.namer]\n', '[roles.namer]\nbackend = "bogus"\n'))
    out = subprocess.run([sys.executable, "-c", "import definitions"], cwd=ROOT, text=True,
                         capture_output=True, env={**__import__("os").environ,
                                                   "VIBESCOPE_SETTINGS": str(path)})
    assert out.returncode != 0
    assert "roles.namer.backend" in out.stderr and "'bogus'" in out.stderr


@pytest.mark.parametrize("extra, key", [("[readers]\nmax_rows = 0\n", "readers.max_rows"),
                                        ("[readers]\ntimeout_s = -1\n", "readers.timeout_s"),
                                        ("[readers]\nmax_row = 5\n", "readers.max_row")])
def test_bad_reader_settings_name_the_key(tmp_path, extra, key):
    path = write_settings(tmp_path / "s.toml", extra)
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        load_settings(path)


@pytest.mark.parametrize("old, new, message", [
    ('kind = "duckdb"', 'kind = "lake"', "'warehouse.kind' = 'lake' is not allowed"),
    ('catalog = "data/lake_catalog.sqlite"', 'catalog = "data/lake.duckdb"', "a DuckDB catalog file opens in one"),
    ("partitions = 0", "partitions = -1", "warehouse.partitions"),
])
def test_bad_warehouse_settings_name_the_key(tmp_path, old, new, message):
    path = write_settings(tmp_path / "s.toml")
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(SettingsError, match=message):
        load_settings(path)


def test_one_model_for_every_role_and_a_role_of_its_own_keeps_it(tmp_path, monkeypatch):
    """[llm] fills every role that names no backend or model; the commands' flags (the
    $VIBESCOPE_* variables) override [llm]; a role that names its own model keeps it."""
    path = write_settings(tmp_path / "s.toml")
    text = path.read_text().replace('[llm]\nbackend = "llamacpp"\nmodel = "smollm2-135m-instruct"',
                                    '[llm]\nbackend = "openai"\nmodel = "gpt-4o-mini"')
    path.write_text(text.replace("[roles.grader]", '[roles.grader]\nbackend = "llamacpp"\nmodel = "own.gguf"'))
    s = load_settings(path)
    assert {(r.backend, r.model) for name, r in s.roles.items() if name != "grader"} == {("openai", "gpt-4o-mini")}
    assert (s.role("grader").backend, s.role("grader").model) == ("llamacpp", "own.gguf")
    monkeypatch.setenv("VIBESCOPE_MODEL", "served")
    monkeypatch.setenv("VIBESCOPE_BASE_URL", "http://127.0.0.1:9/v1")
    s = load_settings(path)
    assert {(r.model, r.base_url) for name, r in s.roles.items() if name != "grader"} == {("served", "http://127.0.0.1:9/v1")}
    assert (s.role("grader").model, s.role("grader").base_url) == ("own.gguf", None)  # not sent to a local role
    monkeypatch.setenv("VIBESCOPE_BACKEND", "bogus")
    with pytest.raises(SettingsError, match="llm.backend.*bogus"):
        load_settings(path)


def test_the_demo_profile_applies_only_when_asked(tmp_path, monkeypatch):
    path = write_settings(tmp_path / "s.toml")
    monkeypatch.delenv("VIBESCOPE_PROFILE")
    plain = load_settings(path)
    assert plain.profile is None and "demo" in plain.profiles
    assert plain.pipeline_defaults("arena.battles", {"dataset", "source", "num_samples", "filter_english"}) == {}
    monkeypatch.setenv("VIBESCOPE_PROFILE", "demo")
    demo = load_settings(path).pipeline_defaults("arena.battles", {"dataset", "source", "num_samples", "filter_english"})
    assert demo["source"] == "sample:arena" and demo["num_samples"] > 0
    monkeypatch.setenv("VIBESCOPE_PROFILE", "dmeo")
    with pytest.raises(SettingsError, match="no profile 'dmeo'.*profiles in the file: demo"):
        load_settings(path)
