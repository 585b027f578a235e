"""Run config of the CJE log builder; defaults from [pipelines.cje_logs.<asset>]."""

import dagster as dg

from resources.settings import with_settings_defaults


class PromptsConfig(dg.Config):
    source: str = ""               # prompts: a file, hf:<id>, or sample:arena (Arena battles' first user turns)
    prompt_column: str = "prompt"
    max_samples: int = 0           # prompts sampled (seeded); 0 = all
    seed: int = 42
    filter_english: bool = True


class ResponsesConfig(dg.Config):
    base_policy: str = "p0"    # role policy.<name> that logs the responses
    # each a role policy.<name>, or a model name run on the base's backend with its prompt and sampling
    target_policies: list[str] = ["pi_clone", "pi_bad"]
    base_model: str = ""       # "" = the base role's model; else the base's (only)
    temperature: float = -1.0  # the base's (and model-name targets'); < 0 = the role's own
    top_p: float = -1.0        # likewise
    # targets declared identical to the base (besides those configured alike, found in
    # cje_logs.identical_policies): their weights must be exactly 1, or the run stops
    identical_policies: list[str] = []


class JudgeConfig(dg.Config):
    proxy_model: str = ""      # "" = role judge's model


class OracleConfig(dg.Config):
    oracle_fraction: float = 0.25  # of the base's rows (calibration) and of each target's (validation)
    seed: int = 42
    oracle_model: str = ""         # "" = role oracle's model


class ExportConfig(dg.Config):
    output_dir: str = ""       # "" = <reports>/cje_logs


PromptsConfig = with_settings_defaults(PromptsConfig, "prompts")
ResponsesConfig = with_settings_defaults(ResponsesConfig, "responses")
JudgeConfig = with_settings_defaults(JudgeConfig, "judge_scores")
OracleConfig = with_settings_defaults(OracleConfig, "oracle_labels")
ExportConfig = with_settings_defaults(ExportConfig, "export")
