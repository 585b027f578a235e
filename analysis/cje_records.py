"""cje-eval's JSONL records (logged data, fresh draws, probe slices) from rows of the staging table
`cje_logs.logged_rows`: one definition for the files `cje_logs/export` writes and the records
`cje.logged_data` ingests from the built logs."""

import json

import pandas as pd


def clean(value):
    return None if isinstance(value, float) and pd.isna(value) else value


def response_metadata(r) -> dict:
    """The response's per-token log-probabilities under its own policy, and the uncertainty judge's
    variance of its score (a calibration covariate), as cje-eval metadata."""
    values, variance = getattr(r, "token_logprobs", None), clean(getattr(r, "uncertainty_variance", None))
    return {**({} if values is None else {"token_logprobs": [float(x) for x in values]}),
            **({} if variance is None else {"judge_variance": float(variance)})}


def logged_record(r) -> dict:
    """A base row as cje-eval's logged data (the oracle label only where calibration may use it)."""
    return {"prompt": r.prompt, "response": r.response, "base_policy_logprob": clean(r.base_policy_logprob),
            "target_policy_logprobs": json.loads(r.target_policy_logprobs or "{}"),
            "judge_score": clean(r.judge_score), "metadata": {"prompt_id": r.prompt_id, **response_metadata(r)},
            **({"oracle_label": r.oracle_label} if r.split == "calibration" and pd.notna(r.oracle_label) else {})}


def draw_record(r) -> dict:
    """A row as cje-eval's fresh draws (with its oracle label where it has one)."""
    return {"prompt_id": r.prompt_id, "prompt": r.prompt, "response": r.response,
            "judge_score": clean(r.judge_score), "draw_idx": int(r.draw_idx), "metadata": response_metadata(r),
            **({"oracle_label": r.oracle_label} if pd.notna(r.oracle_label) else {})}


def probe_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """A target's probe slice: its validation-labelled rows."""
    return rows[(rows.split == "validation") & rows.oracle_label.notna() & ~rows.is_base]
