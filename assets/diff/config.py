"""Run config of the dataset-difference pipeline; defaults from [pipelines.diff.<asset>]."""

import dagster as dg

from resources.settings import with_settings_defaults


class RowsConfig(dg.Config):
    a: str = ""                           # dataset A: a csv/jsonl/json/parquet path, hf:<id> or sample:<name>
    b: str = ""                           # dataset B
    text_column: str = "answer"
    text_column_b: str = ""               # "" = text_column
    pair_key: str = ""                    # pair rows by this column (both sides kept to shared values); two
                                          # Inspect logs pair by "sample" (their sample ids) when it is ""
    max_rows: int = 0                     # per side after balancing; 0 = all
    test_fraction: float = 0.5            # index positions the describer never sees
    seed: int = 0


class IterationsConfig(dg.Config):
    batch_size: int = 16        # rows from each side per describer call
    epochs: int = 1
    extra_prompt: str = ""      # added to every describer prompt
    model: str = ""             # "" = the describer's and classifier's models in dagster_project.toml
    description_max_tokens: int = 256
    max_unseen_per_iteration: int = 0  # unseen index positions each loop prompt is tested on; 0 = all


class TermsConfig(dg.Config):
    top: int = 30               # terms kept per side
    min_count: int = 3          # a term seen fewer times in A and B together is left out
    prior_scale: float = 1.0    # the Dirichlet prior: the pooled counts times this


class ReportConfig(dg.Config):
    output_dir: str = ""        # "" = <reports>/diff/<time>


RowsConfig = with_settings_defaults(RowsConfig, "rows")
IterationsConfig = with_settings_defaults(IterationsConfig, "iterations")
TermsConfig = with_settings_defaults(TermsConfig, "distinguishing_terms")
ReportConfig = with_settings_defaults(ReportConfig, "report")
