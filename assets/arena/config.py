"""Run config of the arena pipeline; defaults from [pipelines.arena.<asset>]. Field names follow
the source tools' flags."""

import dagster as dg

from resources.settings import with_settings_defaults

DATASETS = ("arena", "webdev", "coding", "fictional")


class BattlesConfig(dg.Config):
    dataset: str = "arena"      # arena | webdev | coding | fictional | a local csv/jsonl/parquet path
    source: str = "sample:arena"  # for arena and coding: sample:arena or hf:lmarena-ai/arena-human-preference-100k
    num_samples: int = 100
    filter_english: bool = True
    exclude_ties: bool = False
    models: list[str] = []      # keep battles between these models only; [] = all
    seed: int = 42


class StyleConfig(BattlesConfig):
    """The style view's own battles: the same keys as arena.battles (set both alike to compare the
    same data), all of them by default, since no LLM reads them."""
    num_samples: int = 1_000_000
    filter_english: bool = False


class CategoriesConfig(dg.Config):
    min_cluster_size: int = 50  # scaled down, with a warning, when there are few prompts


class DifferencesConfig(dg.Config):
    describer_source: str = "llm"  # llm | planted (the fictional dataset's ground truth) | file
    properties_path: str = ""      # describer_source file: a StringSight / LMM-Vibes properties file (csv, jsonl, json, parquet)
    model_name: str = ""           # "" = role describer's model
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 768
    max_properties: int = 3
    max_workers: int = 0           # 0 = the backend's own setting
    batches: bool = False          # write OpenAI Batch API files and stop; ingest them on a later run


class ClustersConfig(dg.Config):
    min_cluster_size: int = 15     # scaled down, with a warning, for small data
    enable_dim_reduction: bool = True
    hierarchical: bool = True
    assign_outliers: bool = True
    seed: int = 42


BattlesConfig = with_settings_defaults(BattlesConfig, "arena.battles")
StyleConfig = with_settings_defaults(StyleConfig, "arena.response_style")
CategoriesConfig = with_settings_defaults(CategoriesConfig, "arena.prompt_categories")
DifferencesConfig = with_settings_defaults(DifferencesConfig, "arena.battle_differences")
ClustersConfig = with_settings_defaults(ClustersConfig, "arena.property_clusters")
