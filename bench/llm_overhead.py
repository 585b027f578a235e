"""What the LLM resource costs on top of llama.cpp: the same N requests, side by side, one run.

    (a) straight to llama.cpp (llama_cpp.Llama.create_chat_completion)
    (b) through the LLM resource with a cold cache (backend call + cache write + call log)
    (c) through the LLM resource again: every answer from the warm cache

Prints (b)/(a) and (c)/(a). Goals: (b)/(a) <= 1.10, (c)/(a) <= 0.02.
    .venv/bin/python bench/llm_overhead.py [--n 60] [--max-tokens 24]
"""

import argparse
import tempfile
import time
from pathlib import Path

from resources.llm import LLM
from resources.llm.backends import get_backend
from resources.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--max-tokens", type=int, default=24)
    args = parser.parse_args()
    prompts = [[{"role": "user", "content": f"Give one fact about the number {i}."}] for i in range(args.n)]
    params = dict(temperature=0.0, top_p=1.0, max_tokens=args.max_tokens, seed=0)

    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        llm = LLM(cache_path=str(Path(tmp) / "cache.sqlite"))
        client = llm.client("describer")
        raw = get_backend(settings.role("describer"), settings).llm  # the same loaded model
        raw.create_chat_completion(prompts[0], **params)  # warm-up, outside the timings

        # (a) and (b) alternate request by request, so drift in machine speed hits both alike
        a = b = 0.0
        direct, cold = [], []
        for m in prompts:
            t0 = time.perf_counter()
            raw.reset()  # as the backend does: no prefix reuse, so both give the same answer
            direct.append(raw.create_chat_completion(m, **params)["choices"][0]["message"]["content"])
            t1 = time.perf_counter()
            cold.append(client.chat(m, **params).text)
            t2 = time.perf_counter()
            a, b = a + (t1 - t0), b + (t2 - t1)

        t0 = time.perf_counter()
        warm = [client.chat(m, **params) for m in prompts]
        c = time.perf_counter() - t0

    assert cold == direct, "the resource must return what llama.cpp returns"
    assert all(r.cached for r in warm)
    print(f"N={args.n} requests, max_tokens={args.max_tokens}, model {settings.role('describer').model}")
    print(f"(a) llama.cpp direct      {a:8.3f} s   {a / args.n * 1000:7.1f} ms/request")
    print(f"(b) resource, cold cache  {b:8.3f} s   {b / args.n * 1000:7.1f} ms/request")
    print(f"(c) resource, warm cache  {c:8.3f} s   {c / args.n * 1000:7.1f} ms/request")
    print(f"(b)/(a) = {b / a:.3f}   goal <= 1.10")
    print(f"(c)/(a) = {c / a:.4f}  goal <= 0.02")


if __name__ == "__main__":
    main()
