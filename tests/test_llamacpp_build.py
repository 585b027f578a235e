"""The installed llama.cpp build runs on this CPU, and a build that does not is named, not a mystery."""

import signal
import sys

import pytest

from resources.llm import llamacpp_probe
from resources.llm.backend_llamacpp import embedded_gguf, physical_cores
from resources.llm.llamacpp_probe import LlamaCppCrash, build_flags, crash_message, run_probe


def test_a_short_generation_runs_in_a_child_process():
    """Fails (naming the build's flags and the CPU) where the installed build dies by a signal:
    a `-march=native` build moved to another CPU, or ggml's AMX path where the kernel denies AMX."""
    result = run_probe(embedded_gguf())
    assert result.signal_name is None, crash_message(result)
    assert result.returncode == 0, result.output
    assert result.output.strip().startswith("'"), result.output  # the generated text, printed


def test_the_build_was_made_without_native_cpu_flags():
    flags = build_flags()
    if flags.startswith("unknown"):
        pytest.skip("llama-cpp-python was not installed by `make install`: its flags are unknown")
    assert "-DGGML_NATIVE=OFF" in flags.split(), flags


def test_a_child_killed_by_a_signal_is_reported_with_signal_flags_and_the_rebuild_command():
    """A real child process that dies by SIGSEGV, as a wrong build does at its first bad instruction."""
    result = run_probe(embedded_gguf(), command=[sys.executable, "-c",
                                                 "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    assert result.returncode == -signal.SIGSEGV and result.signal_name == "SIGSEGV"
    message = crash_message(result)
    assert "llama.cpp crashed on this CPU (SIGSEGV" in message
    assert build_flags() in message and "in local.mk" in message and "make install" in message


def test_the_backend_refuses_to_load_when_the_probe_crashes(tmp_path, monkeypatch):
    """ensure_runs raises LlamaCppCrash (not a dead process) and caches nothing for a crashing build."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    crash = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"]
    with pytest.raises(LlamaCppCrash, match="SIGILL"):
        llamacpp_probe.ensure_runs(embedded_gguf(), command=crash)
    assert not list(tmp_path.rglob("llamacpp-probe-*"))
    llamacpp_probe.ensure_runs(embedded_gguf())  # the real build passes and is remembered
    assert len(list(tmp_path.rglob("llamacpp-probe-*.json"))) == 1


def test_threads_default_to_the_physical_cores_this_process_may_use():
    import os

    assert 1 <= physical_cores() <= len(os.sched_getaffinity(0))


def test_flags_set_in_local_mk_name_their_own_build(tmp_path):
    """A GPU or other-CPU build set in local.mk gets its own wheel folder and venv stamp, and the
    default build id stays the one `make install` made here."""
    import subprocess

    from tests.conftest import ROOT

    def flags(*extra: str) -> str:
        return subprocess.run(["make", "-s", "llama-flags", *extra], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()

    local = tmp_path / "local.mk"
    local.write_text("LLAMA_CMAKE_ARGS = -DGGML_NATIVE=OFF -DGGML_CUDA=ON\n")
    default_id, default_flags = flags(f"LOCAL_MK={tmp_path / 'none.mk'}").split(": ", 1)
    cuda_id, cuda_flags = flags(f"LOCAL_MK={local}").split(": ", 1)
    assert cuda_flags == "-DGGML_NATIVE=OFF -DGGML_CUDA=ON" and cuda_id != default_id
    assert "-DGGML_NATIVE=OFF" in default_flags.split()
    if not build_flags().startswith("unknown"):
        assert build_flags() == default_flags  # what this venv was built with
