"""Run config of the arena pipeline; defaults from [pipelines.arena.<asset>]. Field names follow
the source tools' flags."""

import dagster as dg
from pydantic import Field

from resources.settings import with_settings_defaults

DATASETS = ("arena", "webdev", "coding", "fictional")


class BattlesConfig(dg.Config):
    dataset: str = ""           # a csv/jsonl/json/parquet file of battles | arena | webdev | coding | fictional
    source: str = "hf:lmarena-ai/arena-human-preference-100k"  # for arena and coding (the demo: sample:arena)
    num_samples: int = 0        # battles sampled (seeded); 0 = all
    filter_english: bool = False  # keep prompts whose letters are mostly ASCII
    exclude_ties: bool = False
    models: list[str] = []      # keep battles between these models only; [] = all
    seed: int = 42


class StyleConfig(BattlesConfig):
    """The style view's own battles: the same keys as arena.battles (set both alike to compare the
    same data; they default to arena.battles' settings), all of them, since no LLM reads them."""


class CategoriesConfig(dg.Config):
    min_cluster_size: int = 50  # scaled down, with a warning, when there are few prompts


class DifferencesConfig(dg.Config):
    describer_source: str = "llm"  # llm | planted (the fictional dataset's ground truth) | file | none
    properties_path: str = ""      # describer_source file: a StringSight / LMM-Vibes properties file (csv, jsonl, json, parquet)
    model_name: str = ""           # "" = role describer's model
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 768
    max_properties: int = 3
    max_workers: int = 0           # 0 = the backend's own setting
    batches: bool = False          # write OpenAI Batch API files and stop; ingest them on a later run


class RubricConfig(dg.Config):
    behaviours_path: str = ""      # a YAML or JSON file of behaviours to score (name, description, desirable)
    discovered: bool = True        # also score the top_k fine clusters (false: the file's behaviours alone)
    top_k: int = Field(8, ge=0)    # discovered behaviours scored: the fine clusters with most properties


class ScoresConfig(dg.Config):
    scorer_source: str = "llm"     # llm | planted (the fictional dataset's ground truth)
    model_name: str = ""           # "" = role scorer's model
    temperature: float = 0.0
    max_tokens: int = 256
    max_workers: int = 0           # 0 = the backend's own setting
    batches: bool = False          # write OpenAI Batch API files and stop; ingest them on a later run


class ClustersConfig(dg.Config):
    min_cluster_size: int = 0      # 0 = from the number of properties (round(sqrt(n) / 3), at least 2)
    enable_dim_reduction: bool = True
    hierarchical: bool = True
    assign_outliers: bool = True
    seed: int = 42


class RatingsConfig(dg.Config):
    bootstrap_rounds: int = Field(100, ge=2)  # rounds over battles for the intervals (seeded)
    seed: int = 42
    min_battles: int = Field(20, ge=1)  # fewer among the rated models (or no win or no loss): listed, not rated
    anchor: str = ""             # a model to put at 1000; "" = the rated models' mean at 1000


class PredictionConfig(dg.Config):
    test_fraction: float = Field(0.2, gt=0, lt=1)  # battles held out of every fit (the same for each feature set)
    seed: int = 42


BattlesConfig = with_settings_defaults(BattlesConfig, "battles")
StyleConfig = with_settings_defaults(StyleConfig, "response_style", inherit="battles",
                                     not_inherited=("num_samples",))
CategoriesConfig = with_settings_defaults(CategoriesConfig, "prompt_categories")
DifferencesConfig = with_settings_defaults(DifferencesConfig, "battle_differences")
ClustersConfig = with_settings_defaults(ClustersConfig, "property_clusters")
RubricConfig = with_settings_defaults(RubricConfig, "rubric_behaviours")
ScoresConfig = with_settings_defaults(ScoresConfig, "behaviour_scores")
RatingsConfig = with_settings_defaults(RatingsConfig, "model_ratings")
PredictionConfig = with_settings_defaults(PredictionConfig, "prediction_outcomes")
