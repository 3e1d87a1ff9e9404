"""The GGUF chat model answering ``parallel`` questions at once (models/batching.py).

Used instead of models/llama.py's one-at-a-time generator when ``parallel`` > 1. It
runs in the model's worker process (models/worker.py), which calls :meth:`stream`
from one thread per answer: the prompt is built with the model's own chat template,
as llama-cpp-python's ``create_chat_completion`` builds it, and tokenised in the
caller's thread; the engine's one thread decodes every answer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Mapping
from collections.abc import Sequence as Seq
from pathlib import Path
from typing import Any

from assistant.models import prefill
from assistant.models.batching import BatchEngine, Sequence
from assistant.models.cpu import CpuMode
from assistant.models.llama import PROBE_TEXT, open_llama, plain_for
from assistant.models.prefill import SplitPrefill


class BatchedLlamaGenerator:
    """A Generator (answering/generator.py) over llama.cpp that decodes up to
    ``parallel`` answers together; ``capacity`` tells the callers how many."""

    def __init__(
        self,
        model_path: Path,
        *,
        name: str,
        sha256: str,
        cpu_mode: CpuMode = "extra",
        parallel: int = 4,
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
        self.capacity = parallel
        self.engine_params: dict[str, Any] = {
            "parallel": parallel,
            "context_size": context_size,
            "threads": threads,
            "threads_batch": threads_batch or threads,
            "batch_size": batch_size,
            "ubatch_size": ubatch_size,
            "flash_attn": flash_attn,
            "repeat_penalty": repeat_penalty,
            "temperature": temperature,
        }
        #: a prompt read alone by a second, plain context (models/prefill.py): "auto" if faster
        self.split_prefill: SplitPrefill = "off" if cpu_mode == "plain" else split_prefill
        self.prefill: prefill.PlainPrefill | None = None
        #: what load() measured and decided about the split, for the probe's report
        self.prefill_report: dict[str, Any] = {"split": False}
        self._llm: Any = None
        self._engine: BatchEngine | None = None
        self._format: Any = None
        self._lock = threading.Lock()
        self._local = threading.local()

    @property
    def last_prompt(self) -> tuple[int, int] | None:
        """(prompt tokens, of which reused from the KV cache) of this thread's answer."""
        value: tuple[int, int] | None = getattr(self._local, "last_prompt", None)
        return value

    def load(self) -> BatchEngine:
        with self._lock:
            if self._engine is None:
                from llama_cpp import llama_chat_format

                # the Llama object holds the weights, tokenizer and chat template; its own
                # small context only times the split's probe: the engine decodes in its own
                p = self.engine_params
                threads = p["threads_batch"]
                # (a batch of the probe's new tokens: its compute buffer stays, 76 MiB for
                # the 1.5B where one of 512 would keep 265)
                batch = min(prefill.PROBE_NEW, p["batch_size"])
                llm = open_llama(self.model_path, self.cpu_mode, n_ctx=prefill.PROBE_CONTEXT,
                                 n_batch=batch, n_ubatch=batch, n_threads=threads,
                                 flash_attn=p["flash_attn"], verbose=False)  # fmt: skip
                template = llm.metadata.get("tokenizer.chat_template")
                if llm.chat_format != "chat_template.default" or not template:
                    raise ValueError(
                        f"{self.name}: parallel decoding needs the model's own chat template "
                        f"(this one uses {llm.chat_format!r}); set PARALLEL=1"
                    )
                eos, bos = llm.token_eos(), llm.token_bos()
                self._format = llama_chat_format.Jinja2ChatFormatter(
                    template=template,
                    eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
                    bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
                    stop_token_ids=[eos],
                )
                self._llm = llm
                engine = BatchEngine(llm.model, **self.engine_params)
                if self.split_prefill != "off":  # timed on the thread that computes (call)
                    # the plain context reads one sequence at a time
                    plain = {"n_ctx": p["context_size"], "n_batch": p["batch_size"],
                             "n_ubatch": min(p["ubatch_size"], p["batch_size"]),
                             "n_threads": threads, "flash_attn": p["flash_attn"],
                             "verbose": False}  # fmt: skip
                    self.prefill, self.prefill_report = engine.call(
                        lambda: plain_for(llm, self.model_path, self.split_prefill, **plain)
                    )
                    engine.prefill = self.prefill
                self._engine = engine
            return self._engine

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()  # before the model it reads goes
            if self.prefill is not None:
                self.prefill.plain.close()
            self._engine, self._llm, self.prefill = None, None, None

    def probe(self) -> dict[str, Any]:
        """Load, and read a short prompt as one batch, then decode a few tokens: where this
        CPU mode crashes (AMX), it crashes here, before any user's question."""
        import llama_cpp

        t0 = time.perf_counter()
        engine = self.load()
        loaded = time.perf_counter()
        tokens = self._llm.tokenize(PROBE_TEXT.encode("utf-8"), add_bos=True)
        for _ in self._run(engine, Sequence(tokens, 4), None):
            pass
        info = llama_cpp.llama_print_system_info()
        return {
            "load_s": round(loaded - t0, 3),
            "probe_s": round(time.perf_counter() - loaded, 3),
            "probe_tokens": len(tokens),
            "parallel": self.capacity,
            "prefill": self.prefill_report,
            "system_info": info.decode() if isinstance(info, bytes) else str(info),
        }

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False))

    def prompt_tokens_raw(self, text: bytes) -> list[int]:
        """``text`` as tokens, after the model's BOS, without a chat template."""
        self.load()
        return list(self._llm.tokenize(text, add_bos=True))

    def prompt_tokens(self, messages: Seq[Mapping[str, str]]) -> list[int]:
        """The chat prompt's tokens, as ``create_chat_completion`` makes them."""
        self.load()
        result = self._format(messages=[dict(m) for m in messages])
        prompt: str = result.prompt
        tokens: list[int] = self._llm.tokenize(
            prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        return tokens

    def stream(
        self,
        messages: Seq[Mapping[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        engine = self.load()
        self._local.last_prompt = None
        seq = Sequence(self.prompt_tokens(messages), max_tokens)
        for kind, value in self._run(engine, seq, cancel):
            if kind == "usage":
                self._local.last_prompt = (int(value[0]), int(value[1]))
            else:
                yield value

    @staticmethod
    def _run(
        engine: BatchEngine, seq: Sequence, cancel: threading.Event | None
    ) -> Iterator[tuple[str, Any]]:
        """Submit ``seq`` and yield its usage and pieces until it ends; a cancel, or a
        reader that goes away, frees its slot at the engine's next step."""
        engine.submit(seq)
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    return
                try:
                    kind, value = seq.events.get(timeout=0.1)
                except queue.Empty:
                    continue
                if kind == "end":
                    return
                if kind == "fail":
                    raise RuntimeError(value)
                yield kind, value
        finally:
            seq.cancel.set()
