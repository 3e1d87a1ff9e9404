"""One measurement of whichever llama-cpp-python comes first on the path (bench_builds.py).

    python -m tests.bench.build_probe MODEL MODELS_DIR

Prints one JSON line: prompt and decode tok/s on the generation area's fixed prompt,
the CPU backend the build loaded, the CPU mode (the worker's probe, run here in
child processes so a crashing mode cannot take this one down) and llama.cpp's
system info.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import llama_cpp

from assistant.models.catalog import get_spec
from assistant.models.install import verify_installed
from assistant.models.llama import load_cpu_backend, open_llama
from assistant.models.model_worker import model_worker
from assistant.settings import Settings
from tests.bench.bench_generation import fixed_prompt, raw_speed


def main(model: str, models_dir: Path) -> None:
    spec = get_spec(model)
    path = verify_installed(spec, models_dir)
    settings = Settings(model=model, models_dir_override=models_dir)
    worker = model_worker(settings, path, spec.files[0].sha256)
    try:
        worker.load()
        mode = worker.cpu_mode or "plain"
    finally:
        worker.close()
    if mode == "no-amx":  # as the worker does, before llama.cpp sets its buffer types up
        from assistant.models.amx import deny_amx

        deny_amx()
    backend = load_cpu_backend() or "linked in"
    llm = open_llama(
        path, mode, n_ctx=2048, n_threads=2, n_batch=512, flash_attn=True, verbose=False
    )
    prompt, decode = raw_speed(llm, fixed_prompt(llm))
    info = llama_cpp.llama_print_system_info()
    print(
        json.dumps(
            {
                "prompt": prompt,
                "decode": decode,
                "backend": backend,
                "cpu_mode": mode,
                "llama_cpp": str(Path(llama_cpp.__file__).parent),
                "system_info": info.decode() if isinstance(info, bytes) else str(info),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
