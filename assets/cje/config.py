"""Run config of the CJE analysis, one class per asset that takes any. Defaults come from
[pipelines.cje.<asset>] in dagster_project.toml."""

import dagster as dg

from resources.datasets import SAMPLES_DIR
from resources.settings import with_settings_defaults

SAMPLE = SAMPLES_DIR / "cje_arena_sample"
ESTIMATORS = ("ips", "snips", "cal_ips", "dr", "direct")
SOURCES = ("files", "cje_logs")


class LoggedDataConfig(dg.Config):
    source: str = "files"          # files (the paths below) | cje_logs (the logs built by that pipeline)
    logged_data: str = str(SAMPLE / "logged_data.jsonl")  # cje-eval's logged-data JSONL
    fresh_draws_dir: str = str(SAMPLE / "fresh_draws")    # <policy>_responses.jsonl; "" = none
    probe_dir: str = str(SAMPLE / "probe_slice")          # <policy>_probe.jsonl; "" = none
    oracle_fraction: float = 0.25  # share of logged rows whose oracle label calibration may use
    seed: int = 42                 # for that choice of labels
    identical_policies: list[str] = ["clone"]  # declared identical to the base: weights must be 1


class CalibrationConfig(dg.Config):
    n_folds: int = 5
    fold_seed: int = 42  # folds hash prompt_id with this seed, as cje-eval does


class ReportConfig(dg.Config):
    estimator: str = "dr"  # the headline estimator of the report: one of ESTIMATORS
    run_folder: str = ""   # "" = <reports>/cje/<UTC timestamp>; `vibescope cje` puts the built logs there too


LoggedDataConfig = with_settings_defaults(LoggedDataConfig, "cje.logged_data")
CalibrationConfig = with_settings_defaults(CalibrationConfig, "cje.calibrated_rewards")
ReportConfig = with_settings_defaults(ReportConfig, "cje.report")
