"""The settings file's sections as validated models: each key's type, range and default. A bad
key or value fails at load (resources/settings.py) with a message naming the key."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Backend = Literal["llamacpp", "openai", "vllm", "anthropic"]
EmbeddingDtype = Literal["auto", "float32", "bfloat16", "float16"]
BACKENDS: tuple[str, ...] = get_args(Backend)
EMBEDDED_LLM = "smollm2-135m-instruct"
EMBEDDED_EMBEDDER = "all-MiniLM-L6-v2"


# the keys a role may set per server backend (beside the model); the other backends take none
SERVER_KEYS: dict[str, tuple[str, ...]] = {"openai": ("base_url", "api_key_env", "chat_template"),
                                           "anthropic": ("base_url", "api_key_env")}
# what a backend cannot give: token log-probabilities (roles that need them are refused at load)
NO_LOGPROBS_BACKENDS = ("anthropic",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paths(_Strict):
    warehouse: str = "data/warehouse.duckdb"
    snapshot: str = "data/warehouse_snapshot.duckdb"
    reports: str = "reports"
    cache: str = "data/llm_cache.sqlite"
    embedding_cache: str = "data/embedding_cache.sqlite"
    models: str = "data/models"  # fitted models (e.g. activation clusterers) that assign new data


class LlamaCppSettings(_Strict):
    n_ctx: int = Field(2048, ge=128)
    n_threads: int = Field(0, ge=0)
    n_batch: int = Field(64, ge=1)


def _no_credentials(url: str | None) -> str | None:
    from resources.llm.secrets import check_base_url

    if url:
        check_base_url(url, "base_url")
    return url


class ServerSettings(_Strict):
    """[backends.openai] and [backends.anthropic]. A base_url and the api_key_env beside it are a
    pair: the key goes to that URL and nowhere else. "" = the provider's own API, which gets its
    variable (OPENAI_API_KEY, ANTHROPIC_API_KEY) unless api_key_env names another; a base_url
    given without api_key_env gets no key."""
    base_url: str = ""
    api_key_env: str = ""
    _url = field_validator("base_url")(_no_credentials)
    max_workers: int = Field(8, ge=1)
    max_retries: int = Field(4, ge=0)
    timeout_s: float = Field(120.0, gt=0)
    batch_price_factor: float = Field(0.5, ge=0)  # batch answers cost this share of [prices] (both providers: half)


class OpenAISettings(ServerSettings):
    pass


class AnthropicSettings(ServerSettings):
    pass


class VLLMSettings(_Strict):
    tensor_parallel_size: int = Field(1, ge=1)
    max_model_len: int = Field(4096, ge=128)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    dtype: str = "auto"
    max_num_seqs: int = Field(64, ge=1)  # requests the engine batches at once (and run_batch's threads)


class Backends(_Strict):
    llamacpp: LlamaCppSettings = LlamaCppSettings()
    openai: OpenAISettings = OpenAISettings()
    vllm: VLLMSettings = VLLMSettings()
    anthropic: AnthropicSettings = AnthropicSettings()


class RoleSettings(_Strict):
    backend: Backend = "llamacpp"
    model: str = EMBEDDED_LLM
    temperature: float = Field(0.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0)            # 0 = off (llama-cpp-python's own default is 40)
    min_p: float = Field(0.0, ge=0, lt=1)  # 0 = off (llama-cpp-python's own default is 0.05)
    max_tokens: int = Field(256, ge=1)
    # log-probabilities a policy's importance weights use: "sampling" = of the distribution it
    # samples from (temperature and truncations applied; backend llamacpp), "model" = the model's
    # own at temperature 1, accepted knowingly where a server can give no other (weights of a
    # policy that samples otherwise are then wrong by the difference)
    logprobs: Literal["sampling", "model"] = "sampling"
    system_prompt: str | None = None
    seed: int = 0
    json_retries: int = Field(2, ge=0)  # extra attempts when output does not fit the JSON schema
    # openai backend only: the served model's chat template (embedded name, .gguf path or HF id),
    # needed to score given text (teacher forcing) over HTTP
    chat_template: str | None = None
    # openai backend only: this role's own endpoint and the variable holding its key (a pair; a
    # base_url given without api_key_env gets no key). Unset: [backends.openai]'s pair.
    base_url: str | None = None
    api_key_env: str | None = None
    _url = field_validator("base_url")(_no_credentials)

    @model_validator(mode="after")
    def _server_keys_need_a_server(self) -> "RoleSettings":
        allowed = SERVER_KEYS.get(self.backend, ())
        given = [k for k in ("base_url", "api_key_env", "chat_template") if getattr(self, k) is not None and k not in allowed]
        if given:
            takers = " or ".join(b for b, keys in SERVER_KEYS.items() if set(given) <= set(keys))
            raise ValueError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for backend {takers} "
                             f"(a server); this role's backend is {self.backend}")
        return self


class LLMDefaults(_Strict):
    """[llm]: the model every role uses unless the role names its own."""
    backend: Backend = "llamacpp"
    model: str = EMBEDDED_LLM
    base_url: str | None = None
    api_key_env: str | None = None
    chat_template: str | None = None
    _url = field_validator("base_url")(_no_credentials)


class Price(_Strict):
    input: float = Field(ge=0)
    output: float = Field(ge=0)


class EmbeddingSettings(_Strict):
    model: str = EMBEDDED_EMBEDDER
    batch_size: int = Field(64, ge=1)
    device: str = "cpu"
    # "auto": bfloat16 where the CPU computes it natively (avx512_bf16 / AMX; about 3x faster than
    # float32, cosine >= 0.99 to float32, measured in bench/cluster_scale.py), float16 on CUDA,
    # float32 otherwise.
    dtype: EmbeddingDtype = "auto"


class HiddenStateSettings(_Strict):
    model: str = EMBEDDED_LLM
    device: str = "cpu"
    batch_size: int = Field(8, ge=1)


class ReaderSettings(_Strict):
    """What a person's SQL (the app, the CLI) may do on the snapshot."""
    allowed_directories: list[str] = []  # folders opened to read_csv & co; none by default
    max_rows: int = Field(10_000, ge=1)   # rows shown; all are counted
    timeout_s: float = Field(30.0, gt=0)  # a statement running longer is interrupted


class TrackingSettings(_Strict):
    """Runs to an experiment tracker a team already uses (resources/tracking.py); off by default."""
    wandb: bool = False
    project: str = "vibescope"
    entity: str = ""   # "" = the W&B account's default
    mode: Literal["", "online", "offline", "disabled"] = ""  # "" = W&B's own (WANDB_MODE, else online)
    max_table_rows: int = Field(10_000, ge=1)  # of each headline table logged
    mlflow: bool = False             # the same to MLflow (mlflow-skinny), in experiment `project`
    mlflow_tracking_uri: str = ""    # "" = sqlite:///<reports>/mlflow.db; or a server, "http://..."


class WarehouseSettings(_Strict):
    """Where the tables live. "duckdb": one file, one writer at a time, readers on a published
    copy ([paths] warehouse and snapshot). "ducklake": a DuckLake catalog (a .sqlite file for one
    machine, "postgres:<libpq connection string>" for many) and Parquet files under data_path;
    writers commit concurrently and readers read a consistent snapshot, with no copy."""
    kind: Literal["duckdb", "ducklake"] = "duckdb"
    catalog: str = "data/lake_catalog.sqlite"
    data_path: str = "data/lake"
    # Stages that call a model per row run as this many partitions (hash buckets of the row id),
    # each written atomically on its own; 0 = unpartitioned.
    partitions: int = Field(0, ge=0, le=1024)

    @field_validator("catalog")
    @classmethod
    def _catalog_kind(cls, value: str) -> str:
        if value.startswith("postgres:") or value.endswith((".sqlite", ".db")):
            return value
        raise ValueError("a DuckLake catalog here is a SQLite file (.sqlite, .db) for one machine or "
                         "'postgres:<libpq connection string>' for many (a DuckDB catalog file opens in one "
                         "process at a time, and Dagster runs each step in a process of its own)")
