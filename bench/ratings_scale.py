"""Bradley-Terry ratings at Chatbot Arena's scale, vibescope beside FastChat, in one run.

    make .venv-fschat/.installed
    .venv/bin/python bench/ratings_scale.py [--battles 1000000] [--models 100] [--rounds 100]

The battles are fictional (seeded): 100 models with Elo-scale strengths, four style counts per
response (tokens, headers, list items, bold spans) of which length moves the outcome, 15% ties.
Each side runs in a process of its own on the same parquet file and reports its fit time (the
file read excluded) and its peak resident memory (its own and its worker processes'):

- vibescope: `ratings_of` of analysis/ratings.py, what arena.model_ratings runs per fit (the `rated`
  rule, the full fit, the seeded bootstrap, percentile intervals, rank ranges), for `none` and
  for `style` (the style covariates as arena.rating_battles computes them: (a - b) / (a + b + 1),
  standardised; here in numpy on the same counts);
- FastChat from the `fschat` package (0.2.36, the newest on PyPI, in .venv-fschat):
  `compute_elo_mle_with_tie` bootstrapped by `get_bootstrap_result`, the code path of
  `compute_mle_elo`; it builds a dense (2n x models) matrix per fit, so it runs the full fit and
  `--reference-rounds` rounds, and its figure for `--rounds` is that time per fit times the
  rounds and the full fit (said so in the output);
- FastChat's repository (bench/reference/fastchat_rating_systems.py, copied from lm-sys/FastChat
  at 0e6d3e4, which no release ships): `compute_bootstrap_bt` and `compute_bootstrap_style_control`,
  today's Chatbot Arena code, with its own process pool.

Ratings are compared at the mean of each side's ratings put at 1000 (each side anchors its own
way); the figure is the largest difference over the 100 models.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_PYTHON = ROOT / ".venv-fschat" / "bin" / "python"
COUNTS = ("tokens", "header", "list", "bold")


def make_battles(n: int, n_models: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    strength = rng.normal(1000, 100, n_models)
    a = rng.integers(0, n_models, n)
    b = (a + rng.integers(1, n_models, n)) % n_models  # never a model against itself
    counts = {f"{c}_{side}": rng.poisson(lam, n) for c, lam in zip(COUNTS, (400, 2, 5, 3)) for side in "ab"}
    length = (counts["tokens_a"] - counts["tokens_b"]) / (counts["tokens_a"] + counts["tokens_b"] + 1)
    logit = np.log(10) * (strength[a] - strength[b]) / 400 + 6.0 * length
    tie = rng.random(n) < 0.15
    a_won = rng.random(n) < 1 / (1 + np.exp(-logit))
    names = np.array([f"model-{i:03d}" for i in range(n_models)])
    return pd.DataFrame({"model_a": names[a], "model_b": names[b],
                         "winner": np.where(tie, "tie", np.where(a_won, "model_a", "model_b")), **counts})


def style_features(frame: pd.DataFrame) -> np.ndarray:
    """Chatbot Arena's style covariates: (a - b) / (a + b + 1) per count, standardised."""
    diff = np.stack([(frame[f"{c}_a"] - frame[f"{c}_b"]) / (frame[f"{c}_a"] + frame[f"{c}_b"] + 1) for c in COUNTS], 1)
    return (diff - diff.mean(0)) / diff.std(0)


def peak_mib() -> float:
    own, children = (resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return max(own, children) / 1024


def run_vibescope(path: str, control: str, rounds: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from types import SimpleNamespace

    from analysis.ratings import ratings_of

    frame = pd.read_parquet(path)
    started = time.perf_counter()
    if control == "style":
        x = style_features(frame)
        frame = frame.assign(**{c: x[:, i] for i, c in enumerate(("length", "headers", "lists", "bold"))})
        from scipy import sparse
        covariates, names = sparse.csr_matrix(x), ["length", "headers", "lists", "bold"]
    else:
        covariates, names = None, []
    rows, coefficients = ratings_of(frame, covariates, names, SimpleNamespace(bootstrap_rounds=rounds, seed=42, min_battles=1, anchor=""))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mib": peak_mib(), "rounds": rounds,
            "ratings": dict(zip(rows.model, rows.rating.astype(float))),
            "ci_width": float((rows.ci_high - rows.ci_low).median()),
            "length_coefficient": float(coefficients.coefficient.iloc[0]) if len(coefficients) else None}


def run_fschat(path: str, control: str, rounds: int) -> dict:
    from fastchat.serve.monitor.elo_analysis import compute_elo_mle_with_tie, get_bootstrap_result

    frame = pd.read_parquet(path)
    started = time.perf_counter()
    full = compute_elo_mle_with_tie(frame)
    boot = get_bootstrap_result(frame, compute_elo_mle_with_tie, rounds)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mib": peak_mib(), "rounds": rounds, "ratings": full.to_dict(),
            "ci_width": float((boot.quantile(0.975) - boot.quantile(0.025)).median())}


def run_fastchat_repo(path: str, control: str, rounds: int) -> dict:
    sys.path.insert(0, str(ROOT / "bench" / "reference"))
    import fastchat_rating_systems as rs

    frame = pd.read_parquet(path)
    started = time.perf_counter()
    if control == "style":
        metadata = [{"sum_assistant_a_tokens": int(r[0]), "header_count_a": int(r[1]), "list_count_a": int(r[2]),
                     "bold_count_a": int(r[3]), "sum_assistant_b_tokens": int(r[4]), "header_count_b": int(r[5]),
                     "list_count_b": int(r[6]), "bold_count_b": int(r[7])}
                    for r in frame[[f"{c}_{s}" for s in "ab" for c in COUNTS]].to_numpy()]
        frame = frame.assign(conv_metadata=metadata)
        full, params = rs.compute_style_control(frame)
        boot, _ = rs.compute_bootstrap_style_control(frame, rounds)
        extra = {"length_coefficient": float(params[0])}
    else:
        full, extra = rs.compute_bt(frame), {}
        boot = rs.compute_bootstrap_bt(frame, rounds)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mib": peak_mib(), "rounds": rounds, "ratings": full.to_dict(),
            "ci_width": float((boot.quantile(0.975) - boot.quantile(0.025)).median()), **extra}


SIDES = {"vibescope": run_vibescope, "fschat": run_fschat, "fastchat_repo": run_fastchat_repo}


def child(side: str, path: str, control: str, rounds: int) -> dict:
    python = sys.executable if side == "vibescope" else str(REFERENCE_PYTHON)
    out = subprocess.run([python, __file__, "--child", side, path, control, str(rounds)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"{side} {control}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def max_difference(ours: dict, theirs: dict) -> float:
    a, b = pd.Series(ours), pd.Series(theirs)[list(ours)]
    return float(((a - a.mean()) - (b - b.mean())).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--reference-rounds", type=int, default=3,
                        help="rounds run of fschat's dense path (its figure is scaled to --rounds)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not REFERENCE_PYTHON.exists():
        sys.exit(f"{REFERENCE_PYTHON} is missing: make .venv-fschat/.installed")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "battles.parquet")
        make_battles(args.battles, args.models, args.seed).to_parquet(path)
        print(f"{args.battles:,} battles x {args.models} models, {args.rounds} bootstrap rounds")
        for control in ("none", "style"):
            ours = child("vibescope", path, control, args.rounds)
            print(f"\n[{control}] vibescope: {ours['seconds']:.1f} s, peak {ours['peak_mib']:,.0f} MiB, "
                  f"median 95% interval {ours['ci_width']:.2f} Elo"
                  + (f", length coefficient {ours['length_coefficient']:.3f}" if ours.get("length_coefficient") else ""))
            references = [("fastchat_repo", args.rounds)] + ([("fschat", args.reference_rounds)] if control == "none" else [])
            for side, rounds in references:
                theirs = child(side, path, control, rounds)
                scaled = theirs["seconds"] * (args.rounds + 1) / (rounds + 1)  # the full fit and the rounds
                note = "" if rounds == args.rounds else f" ({theirs['seconds']:.1f} s for {rounds} rounds, scaled)"
                print(f"[{control}] {side}: {scaled:.1f} s{note}, peak {theirs['peak_mib']:,.0f} MiB, "
                      f"median 95% interval {theirs['ci_width']:.2f} Elo"
                      + (f", length coefficient {theirs['length_coefficient']:.3f}" if theirs.get("length_coefficient") else "")
                      + f"; ratings differ by at most {max_difference(ours['ratings'], theirs['ratings']):.3f} Elo; "
                      f"vibescope {scaled / ours['seconds']:.1f}x faster")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, side, path, control, rounds = sys.argv
        print(json.dumps(SIDES[side](path, control, int(rounds))))
    else:
        main()
