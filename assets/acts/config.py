"""Run config of the activation-clusters pipeline; defaults from [pipelines.acts.<asset>].
Field names follow the source tool's flags where it has one."""

import dagster as dg

from analysis.cluster_methods import METHODS
from resources.settings import with_settings_defaults

METRICS = ("accuracy", "completeness", "orthogonality")


class TracesConfig(dg.Config):
    source: str = ""            # a json/jsonl/csv/parquet path, hf:<id> or sample:<name> ("" with questions)
    text_column: str = "full_response"
    questions: str = ""         # a dataset of questions: role policy.reasoner writes the traces instead
    question_column: str = "question"
    n_examples: int = 0         # traces sampled (seeded); 0 = all
    seed: int = 42


class SentencesConfig(dg.Config):
    min_words: int = 3          # shorter fragments ("Okay.", "1.") are dropped and counted


class ActivationsConfig(dg.Config):
    model: str = ""             # "" = [hidden_states] model (embedded SmolLM2); the source tool used
                                # deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B
    layers: list[int] = [12]    # every layer from one forward pass; each is clustered, named and graded
    load_in_8bit: bool = False  # int8 weights (bitsandbytes, CUDA only), as the source tool's --load_in_8bit
    include_previous_token: bool = False  # also average the token just before the sentence
    max_tokens: int = 4096      # per trace; sentences past it are dropped and counted


class ClustersConfig(dg.Config):
    methods: list[str] = list(METHODS)
    clusters: list[int] = list(range(5, 55, 5))
    seed: int = 42
    stability_seeds: int = 3    # fits per method x k for the seed-stability ARI (1 = skip)
    pca_components: int = 100
    gmm_covariance: str = "diag"          # raw 576+-D activations; pca_gmm uses "full"
    agglomerative_max_points: int = 10_000  # Ward is O(n^2): fit on a seeded subsample, assign the rest
    sae_topk: int = 3
    sae_epochs: int = 100
    sae_validation_fraction: float = 0.1


class TitlesConfig(dg.Config):
    repetitions: int = 5
    n_central: int = 10         # most central members shown to the namer
    n_random: int = 5           # plus random members (drawn anew each repetition)
    n_traces: int = 1           # whole traces shown for context
    trace_chars: int = 1500
    seed: int = 42
    batches: bool = False       # write OpenAI Batch API files and stop; ingest them on a later run


class GradesConfig(dg.Config):
    metrics: list[str] = list(METRICS)
    n_test: int = 5             # held-out sentences per cluster from it, and as many from other clusters
    orthogonality_threshold: float = 5.0  # on the grader's 0-10 similarity: a pair below it is distinct
    seed: int = 42
    batches: bool = False


class ResultsConfig(dg.Config):
    output_dir: str = ""        # "" = <reports>/acts; the JSON goes to <output_dir>/results/vars/


TracesConfig = with_settings_defaults(TracesConfig, "traces")
SentencesConfig = with_settings_defaults(SentencesConfig, "sentences")
ActivationsConfig = with_settings_defaults(ActivationsConfig, "activations")
ClustersConfig = with_settings_defaults(ClustersConfig, "cluster_assignments")
TitlesConfig = with_settings_defaults(TitlesConfig, "cluster_titles")
GradesConfig = with_settings_defaults(GradesConfig, "grades")
ResultsConfig = with_settings_defaults(ResultsConfig, "results")
