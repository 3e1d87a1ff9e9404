"""A GGUF chat model run by llama-cpp-python, in one of the CPU modes of models/cpu.py.

It runs inside the model's worker process (models/worker.py), never in the web
server: a native crash there costs one answer, not the server. Loaded lazily once;
llama.cpp contexts are not thread-safe, so one lock serialises generations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from assistant.models import prefill
from assistant.models.cpu import CpuMode, uses_extra_buffers
from assistant.models.prefill import SplitPrefill

#: Read as one batch by :meth:`LlamaGenerator.probe`: long enough for llama.cpp to take
#: its batched matrix kernels (where AMX crashed), short enough to cost well under a second.
PROBE_TEXT = (
    "The probe reads this paragraph as one batch, the way a question's prompt is read. "
    "Employees request annual leave through the portal at least two weeks in advance; "
    "their line manager approves it, and the leave balance is shown on the same page. "
    "Travel must be booked through the approved agency, and receipts are kept for audit. "
) * 2


def load_cpu_backend() -> str | None:
    """A portable build (``GGML_BACKEND_DL``, ``GGML_CPU_ALL_VARIANTS``; see the Makefile)
    ships one CPU backend per x86-64 level and loads none by itself: load the best one
    this CPU can run, as llama.cpp's own programs do. Returns the folder it came from
    (None: a native build, whose one CPU backend is linked in)."""
    import ctypes
    import sys

    import llama_cpp

    lib = Path(llama_cpp.__file__).parent / "lib"
    # the libggml that libllama loaded, by its soname: a wheel holds libggml.so and
    # libggml.so.0 as two copies, and a backend registered in the other one is not seen
    try:
        ggml = ctypes.CDLL("libggml.so.0")
    except OSError:
        ggml = ctypes.CDLL(str(lib / "libggml.so"))
    if ggml.ggml_backend_reg_count() > 0:
        return None
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    # the wheel puts them in bin/ beside the llama_cpp package (site-packages/bin)
    for folder in (lib, lib.parent.parent / "bin", Path(sys.prefix) / "bin"):
        if any(folder.glob("libggml-cpu-*.so")):
            ggml.ggml_backend_load_all_from_path(str(folder).encode())
            if ggml.ggml_backend_reg_count() > 0:
                return str(folder)
    raise RuntimeError(f"no llama.cpp CPU backend found beside {lib} (a broken portable build?)")


def open_llama(model_path: Path, cpu_mode: CpuMode, **params: Any) -> Any:
    """``llama_cpp.Llama(model_path, **params)`` with llama.cpp's extra buffer types
    (weight repacking; AMX where the CPU has it) on or off as ``cpu_mode`` says.

    ``Llama`` has no argument for the model parameter ``use_extra_bufts``, so the
    defaults it starts from are adjusted while this one model loads (the worker
    process loads one model, on one thread)."""
    import llama_cpp
    import llama_cpp.llama_cpp as low

    load_cpu_backend()
    extra = uses_extra_buffers(cpu_mode)
    defaults = low.llama_model_default_params

    def model_defaults() -> Any:
        p = defaults()
        p.use_extra_bufts = extra
        return p

    low.llama_model_default_params = model_defaults
    try:
        return llama_cpp.Llama(model_path=str(model_path), **params)
    finally:
        low.llama_model_default_params = defaults


def plain_for(
    llm: Any, model_path: Path, setting: SplitPrefill, **params: Any
) -> tuple[prefill.PlainPrefill | None, dict[str, Any]]:
    """The plain context that reads prompts for ``llm`` (models/prefill.py), loaded with
    ``params``, and the report of the choice: kept if it reads faster ("auto": timed on one
    batch of the probe text in each) or unmeasured ("on"); None when not kept."""
    plain = open_llama(model_path, "plain", **params)
    report: dict[str, Any] = {"split": True}
    if setting == "auto":  # a prompt's shape: the probe text over and over
        text = PROBE_TEXT * (1 + (prefill.PROBE_PREFIX + prefill.PROBE_NEW) // 60)
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True)
        report = prefill.probe_split(llm, plain, tokens[: prefill.PROBE_PREFIX + prefill.PROBE_NEW])
    if not report["split"]:
        plain.close()
        return None, report
    return prefill.PlainPrefill(plain), report


class LlamaGenerator:
    """A Generator (answering/generator.py) over llama.cpp, with prompt-cache usage."""

    def __init__(
        self,
        model_path: Path,
        *,
        name: str,
        sha256: str,
        cpu_mode: CpuMode = "extra",
        context_size: int = 4096,
        threads: int = 2,
        threads_batch: int | None = None,
        batch_size: int = 512,
        ubatch_size: int = 512,
        flash_attn: bool = False,
        temperature: float = 0.0,
        repeat_penalty: float = 1.1,
        split_prefill: SplitPrefill = "off",
    ) -> None:
        self.model_path = Path(model_path)
        self.name = name
        self.sha256 = sha256
        self.cpu_mode = cpu_mode
        self.params: dict[str, Any] = {
            "n_ctx": context_size,
            "n_threads": threads,
            "n_threads_batch": threads_batch or threads,
            "n_batch": batch_size,
            "n_ubatch": min(ubatch_size, batch_size),
            "flash_attn": flash_attn,
            "verbose": False,
        }
        self.temperature = temperature
        self.repeat_penalty = repeat_penalty
        #: prompts read by a second, plain context (models/prefill.py); "auto": if faster
        self.split_prefill: SplitPrefill = "off" if cpu_mode == "plain" else split_prefill
        self.prefill: prefill.PlainPrefill | None = None
        #: what load() measured and decided about the split, for the probe's report
        self.prefill_report: dict[str, Any] = {"split": False}
        self._llm: Any = None
        self._lock = threading.Lock()
        #: (prompt tokens, of which reused from the KV cache) of the current/last answer,
        #: set when its first piece is yielded: the service reports it with the timings.
        self.last_prompt: tuple[int, int] | None = None

    def load(self) -> Any:
        if self._llm is None:
            llm = open_llama(self.model_path, self.cpu_mode, **self.params)
            if self.split_prefill != "off":
                self._split(llm)
            self._llm = llm
        return self._llm

    def _split(self, llm: Any) -> None:
        """Load the plain context beside ``llm``, keep it if it reads prompts faster, and
        route ``llm``'s prompt reads through it."""
        params = {**self.params, "n_threads": self.params["n_threads_batch"]}
        self.prefill, self.prefill_report = plain_for(llm, self.model_path, self.split_prefill,
                                                      **params)  # fmt: skip
        if self.prefill is not None:
            self.prefill.attach(llm)

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def probe(self) -> dict[str, Any]:
        """Load the model and read a short prompt as one batch, then decode a few tokens:
        where this CPU mode crashes (AMX), it crashes here, before any user's question."""
        with self._lock:
            t0 = time.perf_counter()
            llm = self.load()
            loaded = time.perf_counter()
            tokens = llm.tokenize(PROBE_TEXT.encode("utf-8"), add_bos=True)
            llm.reset()
            llm.create_completion(tokens, max_tokens=4, temperature=0.0)
            llm.reset()  # the next prompt starts from an empty cache
            import llama_cpp

            info = llama_cpp.llama_print_system_info()
            return {
                "load_s": round(loaded - t0, 3),
                "probe_s": round(time.perf_counter() - loaded, 3),
                "probe_tokens": len(tokens),
                "prefill": self.prefill_report,
                "system_info": info.decode() if isinstance(info, bytes) else str(info),
            }

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self.load().tokenize(text.encode("utf-8"), add_bos=False))

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        with self._lock:
            llm = self.load()
            self.last_prompt = None
            before = _kv_tokens(llm).copy()  # what the KV cache holds: a prefix is reused
            chunks = llm.create_chat_completion(
                messages=list(messages),
                max_tokens=max_tokens,
                temperature=self.temperature,
                repeat_penalty=self.repeat_penalty,
                stream=True,
            )
            try:
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        break
                    text = chunk["choices"][0]["delta"].get("content")
                    if text:
                        if self.last_prompt is None:
                            self.last_prompt = _prompt_usage(before, _kv_tokens(llm))
                        yield text
            finally:
                chunks.close()


def _kv_tokens(llm: Any) -> Any:
    """The tokens in the context's KV cache (``input_ids`` is the whole n_ctx buffer)."""
    return llm.input_ids[: llm.n_tokens]


def _prompt_usage(before: Any, now: Any) -> tuple[int, int]:
    """(prompt tokens, tokens reused from the cache) at the first piece of an answer.

    ``now`` is the KV cache's tokens once the prompt was evaluated and the first
    token sampled (the piece's token is not evaluated yet), so its length is the
    prompt's; the prefix it shares with ``before`` was not evaluated again.
    """
    n = min(len(before), len(now))
    differ = (before[:n] != now[:n]).nonzero()[0]
    return len(now), int(differ[0]) if len(differ) else n
