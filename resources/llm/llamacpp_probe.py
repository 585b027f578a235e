"""Does the installed llama.cpp build run on this CPU? A short generation in a child process.

A build compiled for instructions this machine cannot run (pip's default `-march=native` build
moved to another CPU, or ggml's AMX path on a VM whose kernel has not granted AMX) kills the
process with SIGSEGV or SIGILL at the first such instruction. In a Dagster step that surfaces as
`ChildProcessCrashException` and nothing else. So the embedded backend first runs a few tokens in
a child process; if the child dies by a signal, the step fails with a message that names the
signal, the build's flags and the command that rebuilds. The answer is cached per build, CPU and
model, so the probe costs a fraction of a second once per machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from resources.llm.types import LLMConfigError

# The flags `make install` built llama-cpp-python with, written beside the virtual environment.
BUILD_FLAGS_FILE = Path(sys.prefix) / "llama_cpp_cmake_args.txt"
REBUILD = ('set LLAMA_CMAKE_ARGS = -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON '
           '-DGGML_F16C=ON in local.mk (or delete local.mk for the default), then run make install')

PROBE_SCRIPT = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=1, verbose=False)
out = llm.create_completion("The capital of France is", max_tokens=4, temperature=0.0)
print(repr(out["choices"][0]["text"]))
"""


class LlamaCppCrash(LLMConfigError):
    """The llama.cpp build dies on this CPU: a setup problem, not a model answer."""


@dataclass(frozen=True)
class ProbeResult:
    returncode: int
    output: str

    @property
    def signal_name(self) -> str | None:
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


def build_flags() -> str:
    if BUILD_FLAGS_FILE.is_file():
        return BUILD_FLAGS_FILE.read_text().strip()
    return "unknown (llama-cpp-python was not installed by `make install`)"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def _cpu_fingerprint() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return cpu_model() + flags


def _library_fingerprint() -> str:
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        raise LLMConfigError("llama-cpp-python is not installed: run `make install`")
    lib = Path(spec.origin).parent / "lib"
    files = sorted(lib.glob("*.so*")) if lib.is_dir() else []
    return "|".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)


def run_probe(model_path: str, command: list[str] | None = None, timeout_s: float = 120) -> ProbeResult:
    """Run the probe (or `command`, for tests of this module) in a child process."""
    command = command or [sys.executable, "-c", PROBE_SCRIPT, model_path]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    return ProbeResult(proc.returncode, (proc.stdout + proc.stderr)[-2000:])


def crash_message(result: ProbeResult) -> str:
    return (f"llama.cpp crashed on this CPU ({result.signal_name}, exit {result.returncode}) on "
            f"{cpu_model()}; llama-cpp-python was built with: {build_flags()}. Rebuild it without "
            f"native CPU flags: {REBUILD} (see the README, 'Set-up and CPUs').")


def _cache_file(model_path: str) -> Path:
    key = hashlib.sha256("\n".join([_library_fingerprint(), _cpu_fingerprint(), model_path]).encode())
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vibescope"
    return root / f"llamacpp-probe-{key.hexdigest()[:16]}.json"


def ensure_runs(model_path: str, command: list[str] | None = None) -> None:
    """Raise LlamaCppCrash if a short generation (or `command`) kills a child process; cached
    once it passes."""
    cache = _cache_file(model_path)
    if cache.is_file():
        return
    result = run_probe(model_path, command)
    if result.signal_name:
        raise LlamaCppCrash(crash_message(result))
    if result.returncode != 0:
        raise LLMConfigError(f"llama.cpp could not run {model_path}: {result.output.strip()[-500:]}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"cpu": cpu_model(), "flags": build_flags(), "output": result.output.strip()}))
