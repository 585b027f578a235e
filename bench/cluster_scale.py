"""Embedding and clustering at 10k, 30k and 100k real sentences, side by side in one run.

Sentences (4+ words, unique) come from model outputs in ../shared/data: AlpacaEval's six models,
then the arena sample's responses and the CJE sample's responses. Prints, per size:
  (1) embedding throughput: the Embeddings resource in float32 (fresh cache) / a bare
      SentenceTransformer.encode on the same texts (goal >= 0.95), measured at the smallest size;
      then the default precision ("auto": bfloat16 on CPUs with native bf16) / float32, with the
      cosine agreement of its vectors to float32's (goal >= 0.99);
  (2) reduce + HDBSCAN + hierarchy (analysis/clustering.density_pipeline) vs BERTopic's UMAP + HDBSCAN
      + c-TF-IDF + hierarchical_topics on the same precomputed embeddings and the same UMAP
      settings (goals: 100k in <= 90 s, ratio <= 1);
  (3) end to end for the largest size: embed (fresh cache, default precision) + cluster, no LLM
      naming (goal <= 600 s).

    .venv/bin/python bench/cluster_scale.py [--sizes 10000 30000 100000] [--shared ../shared]
"""

import argparse
import glob
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.clustering import density_pipeline  # noqa: E402
from resources.embeddings import Embeddings, load_model  # noqa: E402
from resources.settings_models import EMBEDDED_EMBEDDER  # noqa: E402

SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def corpus(shared: Path, n: int, seed: int = 0) -> list[str]:
    texts = []
    for f in sorted(glob.glob(str(shared / "data/alpaca_eval/results/*/model_outputs.json"))):
        texts += [r["output"] for r in json.loads(Path(f).read_text())]
    arena = pd.read_csv(shared / "data/arena/lmsys_arena55k_sample.csv")
    for column in ("response_a", "response_b"):
        texts += [t for cell in arena[column].dropna() for t in json.loads(cell)]
    for f in sorted(glob.glob(str(shared / "data/cje_arena_sample/**/*.jsonl"), recursive=True)):
        for line in Path(f).read_text().splitlines():
            record = json.loads(line)
            texts += [record["response"]] if isinstance(record.get("response"), str) else []
    sentences = dict.fromkeys(s.strip() for t in texts if isinstance(t, str) for s in SENTENCE_END.split(t)
                              if len(s.split()) >= 4 and len(s) < 400)
    unique = list(sentences)
    np.random.default_rng(seed).shuffle(unique)
    if len(unique) < n:
        print(f"only {len(unique)} unique sentences: using all of them for n={n}")
    return unique[:n]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bertopic_fit(texts: list[str], vectors: np.ndarray, min_cluster_size: int, seed: int):
    import hdbscan
    import umap
    from bertopic import BERTopic

    model = BERTopic(umap_model=umap.UMAP(n_components=10, n_neighbors=15, metric="cosine", min_dist=0.0,
                                          random_state=seed),
                     hdbscan_model=hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=1,
                                                   prediction_data=True),
                     calculate_probabilities=False)
    topics, _ = model.fit_transform(texts, vectors)
    model.hierarchical_topics(texts)
    return topics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared")
    parser.add_argument("--min-cluster-size", type=int, default=15)
    args = parser.parse_args()
    texts = corpus(args.shared, max(args.sizes))
    sizes = sorted({min(n, len(texts)) for n in args.sizes})
    print(f"{len(texts)} sentences; sizes {sizes}")
    tmp = Path(tempfile.mkdtemp())

    # (1) + (3): our resource embeds the largest set once into a fresh cache (end to end), then the
    # smallest set again cold in another fresh cache and bare, for the throughput ratio
    bare = load_model(EMBEDDED_EMBEDDER, "cpu")  # the very model object our resource uses
    small = texts[:sizes[0]]
    ours_fp32 = Embeddings(cache_path=str(tmp / "small.sqlite"), dtype="float32")
    ours_default = Embeddings(cache_path=str(tmp / "small.sqlite"))  # same file, its own cache key
    warm = ["A sentence to load the model before timing."]
    ours_fp32.encode(warm)
    ours_default.encode(warm)
    _, t_bare = timed(lambda: bare.encode(small, batch_size=64, normalize_embeddings=True))
    fp32, t_ours = timed(lambda: ours_fp32.encode(small))
    print(f"(1) embedding {len(small)}: bare {len(small) / t_bare:.0f}/s, ours float32 {len(small) / t_ours:.0f}/s, "
          f"throughput ratio ours/bare {t_bare / t_ours:.3f} (goal >= 0.95)")
    fast, t_fast = timed(lambda: ours_default.encode(small))
    cosine = (fast * fp32).sum(axis=1)
    print(f"(1) default precision {ours_default.precision}: {len(small) / t_fast:.0f}/s, "
          f"{t_ours / t_fast:.2f}x float32; cosine to float32 min {cosine.min():.4f}, "
          f"1st percentile {np.percentile(cosine, 1):.4f}, mean {cosine.mean():.4f} (goal >= 0.99)")

    ours = Embeddings(cache_path=str(tmp / "all.sqlite"))
    ours.encode(warm)
    vectors, t_embed = timed(lambda: ours.encode(texts))

    # numba compiles UMAP/HDBSCAN once, untimed; above 4096 points UMAP switches from exact neighbours
    # to NN-descent, which compiles separately (a 2,000-point warm-up left 10k paying for it)
    density_pipeline(args.min_cluster_size).fit(vectors[:5000])
    rows = []
    for n in sizes:
        x = vectors[:n]
        result, t_ours_cluster = timed(lambda: density_pipeline(args.min_cluster_size).fit(x))
        topics, t_bertopic = timed(lambda: bertopic_fit(texts[:n], x, args.min_cluster_size, 42))
        rows.append({"n": n, "ours_s": t_ours_cluster, "bertopic_s": t_bertopic,
                     "ratio_ours_over_bertopic": t_ours_cluster / t_bertopic,
                     "fine_clusters": len(set(result.labels) - {-1}), "coarse_clusters": len(set(result.coarse.values())),
                     "bertopic_topics": len(set(topics) - {-1})})
        print(f"(2) n={n}: ours {t_ours_cluster:.1f} s, BERTopic {t_bertopic:.1f} s, "
              f"ratio {t_ours_cluster / t_bertopic:.2f}", flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if len(table) > 1:  # growth exponent: time ~ n^b
        for column in ("ours_s", "bertopic_s"):
            b = np.polyfit(np.log(table.n), np.log(table[column]), 1)[0]
            print(f"growth of {column}: ~ n^{b:.2f}")
    largest = table.iloc[-1]
    print(f"(3) end to end n={int(largest.n)}, {ours.precision}: embed {t_embed:.0f} s ({len(texts) / t_embed:.0f}/s) + "
          f"cluster {largest.ours_s:.0f} s = {t_embed + largest.ours_s:.0f} s (goal <= 600 s)")


if __name__ == "__main__":
    main()
