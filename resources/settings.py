"""Load and validate `dagster_project.toml`, the project's one settings file.

A bad key or value fails at load with a message naming the key and the allowed values.

Two layers go over the file, in this order, when they are asked for:
  * a profile, `[profiles.<name>]`, chosen by $VIBESCOPE_PROFILE: its tables are merged over the
    file's (`vibescope demo` applies `demo`: the demo's sizes and the bundled samples' paths, which
    no other run reads);
  * one model for every role: `[llm]` fills each role's `backend`, `model`, `base_url`,
    `api_key_env` and `chat_template` where the role does not set them, and $VIBESCOPE_BACKEND,
    $VIBESCOPE_MODEL, $VIBESCOPE_BASE_URL, $VIBESCOPE_API_KEY_ENV (the commands' `--backend`,
    `--model`, `--base-url`, `--api-key-env`) override `[llm]`.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from resources.settings_models import (
    EMBEDDED_LLM, NO_LOGPROBS_BACKENDS, SERVER_KEYS, Backends, EmbeddingSettings, HiddenStateSettings, LLMDefaults, Paths, Price, ReaderSettings, TrackingSettings,
    RoleSettings, WarehouseSettings, _Strict,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS_FILE = PROJECT_ROOT / "dagster_project.toml"


PROFILE_ENV = "VIBESCOPE_PROFILE"
# the [llm] keys the commands' flags set for one run, through the environment (so the step
# processes of a `dg launch` see them too)
LLM_ENV = {
    "backend": "VIBESCOPE_BACKEND",
    "model": "VIBESCOPE_MODEL",
    "base_url": "VIBESCOPE_BASE_URL",
    "api_key_env": "VIBESCOPE_API_KEY_ENV",
}

PATH_ENV = {
    "warehouse": "VIBESCOPE_WAREHOUSE",
    "snapshot": "VIBESCOPE_SNAPSHOT",
    "reports": "VIBESCOPE_REPORTS",
    "cache": "VIBESCOPE_CACHE",
    "embedding_cache": "VIBESCOPE_EMBEDDING_CACHE",
    "models": "VIBESCOPE_MODELS",
}


def needs_logprobs(role: str) -> str:
    """What a role needs token log-probabilities for ("" = nothing)."""
    if role == "classifier":
        return "the A/B token's probabilities"
    if role.startswith("policy.") and role != "policy.reasoner":  # the reasoner only writes traces
        return "teacher forcing: every CJE policy scores the base's responses"
    return ""


class SettingsError(ValueError):
    """A settings file that cannot be used; the message names the file and the key."""


class Settings(_Strict):
    file: Path = DEFAULT_SETTINGS_FILE
    profile: str | None = None  # the [profiles.<name>] merged over the file, if any
    profiles: list[str] = []    # the profiles the file defines
    llm: LLMDefaults = LLMDefaults()
    warehouse: WarehouseSettings = WarehouseSettings()
    paths: Paths = Paths()
    backends: Backends = Backends()
    roles: dict[str, RoleSettings] = {}
    prices: dict[str, Price] = {}
    embeddings: EmbeddingSettings = EmbeddingSettings()
    hidden_states: HiddenStateSettings = HiddenStateSettings()
    readers: ReaderSettings = ReaderSettings()
    tracking: TrackingSettings = TrackingSettings()
    pipelines: dict[str, dict[str, Any]] = {}

    def path(self, name: str) -> Path:
        """An absolute path from [paths]; the environment variable wins over the file."""
        raw = os.environ.get(PATH_ENV[name]) or getattr(self.paths, name)
        p = Path(raw)
        return p if p.is_absolute() else (self.file.parent / p).resolve()

    def lake_path(self, raw: str) -> str:
        """A [warehouse] catalog or data_path, relative file paths resolved against this file's folder."""
        if raw.startswith("postgres:") or "://" in raw or Path(raw).is_absolute():
            return raw
        return str((self.file.parent / raw).resolve())

    def reader_directories(self) -> list[Path]:
        """[readers] allowed_directories, relative ones resolved against this file's folder."""
        return [p if (p := Path(d)).is_absolute() else (self.file.parent / p).resolve()
                for d in self.readers.allowed_directories]

    def role(self, name: str) -> RoleSettings:
        if name not in self.roles:
            raise SettingsError(
                f"{self.file}: no role '{name}' under [roles]; configured roles: "
                f"{', '.join(sorted(self.roles)) or '(none)'}"
            )
        return self.roles[name]

    def pipeline_defaults(self, pipeline: str, allowed: set[str]) -> dict[str, Any]:
        """The [pipelines.<pipeline>] table ("cje.report" is [pipelines.cje.report]), checked
        against the keys the pipeline knows."""
        section: Any = self.pipelines
        for part in pipeline.split("."):
            section = section.get(part, {}) if isinstance(section, dict) else {}
        unknown = sorted(set(section) - allowed)
        if unknown:
            raise SettingsError(
                f"{self.file}: unknown key(s) {', '.join(unknown)} in [pipelines.{pipeline}]; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        return dict(section)


def _flatten_roles(roles: dict[str, Any]) -> dict[str, Any]:
    """[roles.policy.p0] arrives as {"policy": {"p0": {...}}}; name it "policy.p0"."""
    flat: dict[str, Any] = {}
    for name, value in roles.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            for sub, sub_value in value.items():
                flat[f"{name}.{sub}"] = sub_value
        else:
            flat[name] = value
    return flat


def _describe(err: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    if err["type"] == "literal_error":
        allowed = err.get("ctx", {}).get("expected", "")
        return f"'{key}' = {err.get('input')!r} is not allowed; allowed values: {allowed}"
    from resources.llm.secrets import redact

    return redact(f"'{key}': {err['msg']} (got {err.get('input')!r})")  # never echo a credential


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into `base`, table by table (a key of `over` wins; tables merge deeply)."""
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def _fill_roles(roles: dict[str, Any], llm: dict[str, Any]) -> dict[str, Any]:
    """Each role with [llm]'s keys where it sets none; [llm]'s server keys only where the role runs
    [llm]'s backend."""
    filled = {}
    for name, role in roles.items():
        if not isinstance(role, dict):
            filled[name] = role
            continue
        role = dict(role)
        role.setdefault("backend", llm.get("backend", "llamacpp"))
        role.setdefault("model", llm.get("model", EMBEDDED_LLM))
        if role["backend"] == llm.get("backend", "llamacpp"):  # [llm]'s server keys go with [llm]'s backend
            for key in SERVER_KEYS.get(role["backend"], ()):
                if llm.get(key) is not None:
                    role.setdefault(key, llm[key])
        filled[name] = role
    return filled


def parse_settings(data: dict[str, Any], file: Path, profile: str | None = None,
                   llm_overrides: dict[str, str] | None = None) -> Settings:
    data = dict(data)
    profiles = data.pop("profiles", {})
    if not isinstance(profiles, dict):
        raise SettingsError(f"{file}: [profiles] must be tables, [profiles.<name>]")
    if profile:
        if profile not in profiles:
            raise SettingsError(f"{file}: no profile {profile!r} (${PROFILE_ENV}); profiles in the file: "
                                f"{', '.join(sorted(profiles)) or '(none)'}")
        data = _merge(data, profiles[profile])
    llm = {**data.get("llm", {}), **(llm_overrides or {})}
    data["llm"] = llm
    data["roles"] = _fill_roles(_flatten_roles(data.get("roles", {})), llm)
    for name, role in data["roles"].items():
        if isinstance(role, dict) and role.get("backend") in NO_LOGPROBS_BACKENDS and needs_logprobs(name):
            raise SettingsError(
                f"{file}: [roles.{name}] runs on backend {role['backend']}, which gives no log-probabilities, and "
                f"role '{name}' needs them ({needs_logprobs(name)}): set its backend to llamacpp, vllm or openai")
    try:
        return Settings(file=file, profile=profile or None, profiles=sorted(profiles), **data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise SettingsError(f"{file}: {problems}") from None


@lru_cache(maxsize=8)
def _load(path: str, mtime: float, profile: str, llm_overrides: tuple[tuple[str, str], ...]) -> Settings:
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text())
    except FileNotFoundError:
        raise SettingsError(f"settings file not found: {file}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{file}: not valid TOML: {exc}") from None
    return parse_settings(data, file.resolve(), profile, dict(llm_overrides))


def llm_overrides_from_env() -> dict[str, str]:
    return {key: os.environ[var] for key, var in LLM_ENV.items() if os.environ.get(var)}


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Settings from `path`, else $VIBESCOPE_SETTINGS, else the project's dagster_project.toml;
    with $VIBESCOPE_PROFILE's profile and the $VIBESCOPE_BACKEND/MODEL/... overrides applied."""
    file = Path(path or os.environ.get("VIBESCOPE_SETTINGS") or DEFAULT_SETTINGS_FILE)
    mtime = file.stat().st_mtime if file.exists() else 0.0
    return _load(str(file), mtime, os.environ.get(PROFILE_ENV, ""),
                 tuple(sorted(llm_overrides_from_env().items())))


def with_settings_defaults(config_cls, step: str, settings_file: str | None = None,
                           inherit: str | None = None, not_inherited: tuple[str, ...] = ()):
    """`config_cls` with its defaults replaced by [pipelines.<pipeline>.<step>] of the settings
    file (the profile in force applied), so the Dagster launchpad shows the project's defaults; a
    key the class lacks is an error. The pipeline is the calling module's package
    (assets/<pipeline>/config.py), unless `step` names it ("cje.report"). `inherit`: another
    step's section whose keys (less `not_inherited`) apply first, so two steps that read the same
    input name it once."""
    import sys

    from pydantic import create_model

    caller = sys._getframe(1).f_globals.get("__name__", "").split(".")
    package = caller[1] if len(caller) == 3 and caller[0] == "assets" else None

    def section(name: str) -> str:
        if "." in name or package is None:
            return name
        return f"{package}.{name}"

    pipeline, inherit = section(step), inherit and section(inherit)
    fields = config_cls.model_fields
    settings = load_settings(settings_file)
    overrides = {}
    if inherit:
        inherited = settings.pipeline_defaults(inherit, set(fields))
        overrides = {k: v for k, v in inherited.items() if k not in not_inherited}
    overrides.update(settings.pipeline_defaults(pipeline, set(fields)))
    if not overrides:
        return config_cls
    return create_model(
        config_cls.__name__, __base__=config_cls, __doc__=config_cls.__doc__,
        **{k: (fields[k].annotation, v) for k, v in overrides.items()},
    )
