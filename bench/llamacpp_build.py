"""What portability costs: the embedded model's prompt and generation tokens/s under two
llama-cpp-python builds, side by side in one run.

    (p) the installed build (`make install`: -DGGML_NATIVE=OFF, an explicit AVX2/FMA/F16C set)
    (n) another build, e.g. one with native CPU flags, installed into a folder:
          CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF" pip wheel --no-cache-dir --no-deps \\
              --no-binary llama-cpp-python -w /tmp/native llama-cpp-python==0.3.36
          pip install --no-deps --target /tmp/llama-native /tmp/native/*.whl
Each round runs one child process per build, alternating, so drift in machine speed hits both.
Only run (n) where it does not crash: a native build from an AMX-reporting Intel VM dies here.

    .venv/bin/python bench/llamacpp_build.py --other /tmp/llama-native [--rounds 5]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from resources.llm.backend_llamacpp import embedded_gguf, physical_cores
from resources.llm.llamacpp_probe import cpu_model

CHILD = r"""
import json, sys, time
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=int(sys.argv[2]),
            n_threads_batch=int(sys.argv[2]), verbose=False)
words = " ".join(f"item {i} is a number that comes after {i - 1}." for i in range(1, 60))
prompt = llm.tokenize(words.encode())[:480]
llm.eval(prompt[:32]); llm.reset()  # warm-up
t0 = time.perf_counter(); llm.eval(prompt); t1 = time.perf_counter()
llm.reset()
out = llm.create_completion("Once upon a time", max_tokens=128, temperature=0.0)
t2 = time.perf_counter()
gen = llm.create_completion("Once upon a time", max_tokens=128, temperature=0.0)
t3 = time.perf_counter()
print(json.dumps({"prompt_tps": len(prompt) / (t1 - t0),
                  "gen_tps": gen["usage"]["completion_tokens"] / (t3 - t2)}))
"""


def measure(pythonpath: str | None, threads: int) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", CHILD, embedded_gguf(), str(threads)], env=env,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"build at {pythonpath or 'the venv'} failed (exit {out.returncode}): {out.stderr[-400:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--other", required=True, help="a folder holding another llama_cpp package")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    threads = physical_cores()
    portable, other = [], []
    for _ in range(args.rounds):
        portable.append(measure(None, threads))
        other.append(measure(args.other, threads))
    cpu = cpu_model()
    print(f"{cpu}, {threads} threads, SmolLM2-135M-Instruct Q4_1, {args.rounds} rounds (median)")
    for key, label in (("prompt_tps", "prompt tokens/s"), ("gen_tps", "generation tokens/s")):
        p = statistics.median(r[key] for r in portable)
        o = statistics.median(r[key] for r in other)
        print(f"{label:20s} installed {p:8.1f}   other {o:8.1f}   installed/other {p / o:.3f}")


if __name__ == "__main__":
    main()
