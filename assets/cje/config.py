"""Run config of the CJE analysis, one class per asset that takes any. The defaults read only
what a run names (no bundled file: the demo profile names those); [pipelines.cje.<asset>] in
dagster_project.toml changes them."""

import dagster as dg

from resources.settings import with_settings_defaults

ESTIMATORS = ("ips", "snips", "cal_ips", "dr", "direct")
HEADLINES = ("auto", *ESTIMATORS)
SOURCES = ("files", "cje_logs")
COVARIATES = ("response_length", "judge_variance")  # words of the response; the uncertainty judge's variance


class LoggedDataConfig(dg.Config):
    source: str = "files"          # files (the paths below) | cje_logs (the logs built by that pipeline)
    logged_data: str = ""          # cje-eval's logged-data JSONL (required with source files)
    fresh_draws_dir: str = ""      # a folder of <policy>_responses.jsonl; "" = none
    probe_dir: str = ""            # a folder of <policy>_probe.jsonl; "" = none
    # share of logged rows whose oracle label calibration may use: 1 = every label there is; less
    # holds the rest out as split 'validation' (the source tool's experiment; the demo uses 0.25)
    oracle_fraction: float = 1.0
    seed: int = 42                 # for that choice of labels
    # declared identical to the base (their weights must be exactly 1); unset: a policy named
    # "clone" if there is one, else none
    identical_policies: list[str] | None = None


class CalibrationConfig(dg.Config):
    n_folds: int = 5
    fold_seed: int = 42  # folds deal the labelled prompts in the order of a hash of prompt_id and this seed, as cje-eval 0.9 does
    calibration_mode: str = "auto"   # isotonic | two_stage | auto (the better out of fold; analysis/cje_calibration.py)
    covariates: list[str] = []       # of COVARIATES, for two_stage (and auto's two_stage candidate)


class BootstrapConfig(dg.Config):
    # replicates of the direct estimates' cluster bootstrap with calibrator refit (cje.direct_bootstrap);
    # 0 = none (cje-eval 0.9's default inference is the analytic one too). Each replicate refits every
    # fold model: about 10 ms at 480 labels in two_stage mode, a second at 250,000 labels
    n_bootstrap: int = 0
    seed: int = 42


class TransportConfig(dg.Config):
    # the largest mean residual (oracle label - calibrated reward, in reward units) on a target's
    # probes that still counts as the calibration transporting; 0 = none declared: NOT_GRADED
    delta_max: float = 0.0
    alpha: float = 0.05                 # family-wise, Bonferroni over the audited policies
    min_effective_clusters: float = 20  # fewer effective prompt clusters: no PASS


class DecisionConfig(dg.Config):
    # the headline estimator: auto (dr where every policy has fresh draws, else cal_ips) or one of ESTIMATORS
    estimator: str = "auto"
    alpha: float = 0.05    # the best policy must beat each other one at this Holm-adjusted level


class ReportConfig(dg.Config):
    run_folder: str = ""   # "" = <reports>/cje/<UTC timestamp>; `vibescope cje build` puts the built logs there too


LoggedDataConfig = with_settings_defaults(LoggedDataConfig, "logged_data")
CalibrationConfig = with_settings_defaults(CalibrationConfig, "calibrated_rewards")
TransportConfig = with_settings_defaults(TransportConfig, "transport_audits")
BootstrapConfig = with_settings_defaults(BootstrapConfig, "direct_bootstrap")
DecisionConfig = with_settings_defaults(DecisionConfig, "decision")
ReportConfig = with_settings_defaults(ReportConfig, "report")
