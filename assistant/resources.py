# Over 300 lines: the composition root builds every resource, the two dense indexes included.
"""The composition root: heavy resources built lazily, once, from settings.

Entry points (CLI, server, tests) make one ``Resources`` and hand its parts
down. Tests inject deterministic stand-ins (a hash embedder, an echo
generator) through the constructor; nothing else needs to know. An injected
embedder stands for the whole dense side: the multilingual index is then off
unless a multilingual embedder is injected too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from assistant.answering.conversations import Conversations, Turn
from assistant.answering.generator import EchoGenerator, Generator
from assistant.answering.history import ChatHistory
from assistant.answering.knobs import answer_knobs
from assistant.answering.prompt import system_prompt
from assistant.answering.queue import ModelQueue
from assistant.answering.redaction import Redaction
from assistant.answering.router import ChainModel
from assistant.answering.service import AnswerService
from assistant.audit.answers import AnswerAuditor
from assistant.audit.events import record_model_event, recorder
from assistant.audit.export import Mask
from assistant.audit.ingests import IngestAuditor
from assistant.audit.log import AuditLog
from assistant.audit.masking import masker
from assistant.auth.access import AccessControl
from assistant.auth.ratelimit import RateLimiter
from assistant.auth.sessions import SessionManager
from assistant.auth.store import AuthStore
from assistant.errors import ModelIntegrityError, ModelNotInstalled
from assistant.models.catalog import CATALOG, get_spec
from assistant.models.embed import Embedder, HashEmbedder, make_embedder
from assistant.models.install import verify_file
from assistant.models.model_worker import ModelWorker, model_worker, worker_spec
from assistant.models.multilingual import make_multilingual_embedder, multilingual_gate
from assistant.models.replicas import ReplicaPool, replica_threads
from assistant.models.requant import serving_file
from assistant.observability.requests import observe_done
from assistant.retrieval.coverage import CoverageGate
from assistant.retrieval.retriever import Retriever
from assistant.settings import Settings
from assistant.store import multilingual, recovery
from assistant.store.documents import Store
from assistant.store.follow import Follower
from assistant.store.index import VectorIndex
from assistant.store.journal import iter_receipts
from assistant.text.pii import Redactor
from ingest.pipeline import Ingestor

log = logging.getLogger(__name__)


class Resources:
    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        draft_generator: Generator | None = None,
        multilingual_embedder: Embedder | None = None,
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._multilingual = multilingual_embedder
        #: why the multilingual index is off (None: it is on, or not yet looked at)
        self._multilingual_off: str | None = None
        if multilingual_embedder is None and embedder is not None:
            self._multilingual_off = "a stand-in embedder was injected alone"
        self._generator = generator
        self._draft = draft_generator  # answers first (settings.draft_model)
        self._injected = (generator is not None, draft_generator is not None)
        self._lock = threading.RLock()
        for given in (generator, draft_generator):  # a model, or a pool of its replicas
            for worker in getattr(given, "replicas", [given]):
                if isinstance(worker, ModelWorker) and worker.on_event is None:
                    worker.on_event = self._model_event  # an injected worker is audited too

    # -- models ----------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None and self.settings.embedding_model == "hash":
                self._embedder = HashEmbedder()  # the model-free stand-in, for tests and demos
            if self._embedder is None:
                s = self.settings
                # a catalogue or tuned model; torch or its int8 ONNX export (models/embed.py)
                self._embedder = make_embedder(
                    s.embedding_model,
                    s.models_dir,
                    backend=s.embedding_backend,
                    batch_size=s.embed_batch_size,
                    threads=s.embed_threads,
                )
            return self._embedder

    @property
    def multilingual_embedder(self) -> Embedder | None:
        """The second, multilingual embedder (``multilingual_embedding_model``); None when
        off, or when its model is not installed (logged, and reported by ``status``: the
        English index still serves, and the chunks ingested meanwhile are counted as
        missing their multilingual vectors)."""
        with self._lock:
            name = self.settings.multilingual_embedding_model
            if self._multilingual is None and self._multilingual_off is None:
                if name is None:
                    self._multilingual_off = "multilingual_embedding_model is none"
                elif name == "hash":  # the model-free stand-in, for tests and demos
                    self._multilingual = HashEmbedder(256)
                else:
                    try:
                        self._multilingual = make_multilingual_embedder(
                            get_spec(name),
                            self.settings.models_dir,
                            threads=self.settings.multilingual_embed_threads,
                        )
                    except ModelNotInstalled as exc:
                        self._multilingual_off = f"{exc.message} ({exc.hint})"
                        log.warning("multilingual index off: %s", self._multilingual_off)
            return self._multilingual

    def model_file(self, name: str | None = None) -> tuple[Path, str]:
        """The GGUF of ``name`` (default: MODEL) and its pinned SHA-256, verified before
        anything reads it. MODEL_PATH names MODEL's file, never the draft model's."""
        name = name or self.settings.model
        spec = get_spec(name)
        pinned = spec.files[0].sha256
        if self.settings.model_path is not None and name == self.settings.model:
            path = self.settings.model_path
            try:
                verify_file(path, pinned)
            except FileNotFoundError as exc:
                raise ModelIntegrityError(f"model file not found: {path}") from exc
            return path, pinned
        return serving_file(spec, self.settings.models_dir)  # re-quantised, if made

    def _build(self, name: str) -> Generator:
        if name == "echo":
            return EchoGenerator()  # the model-free stand-in, for tests and demos
        path, sha = self.model_file(name)
        # the model runs in its own process: a native crash there costs one answer
        named = self.settings.model_copy(update={"model": name})
        n = self.settings.replicas
        if self.settings.replica_backend == "ray":  # actors over a cluster's nodes
            from assistant.models.ray_replicas import ray_replicas

            return ReplicaPool(*ray_replicas(named, worker_spec(named, path, sha), n))
        if n == 1:
            return model_worker(named, path, sha, self._model_event)
        # REPLICAS copies of the model, the cores split among them (models/replicas.py)
        share = named.model_copy(update=replica_threads(named, n))
        return ReplicaPool([model_worker(share, path, sha, self._model_event) for _ in range(n)])

    @property
    def generator(self) -> Generator:
        """MODEL, built on first use."""
        with self._lock:
            if self._generator is None:
                self._generator = self._build(self.settings.model)
            return self._generator

    @property
    def draft_generator(self) -> Generator | None:
        """The model that answers first (``draft_model``; None: none), built on first use."""
        with self._lock:
            if self._draft is None and self.draft_name is not None:
                self._draft = self._build(self.draft_name)
            return self._draft

    @property
    def model_name(self) -> str:
        injected = self._generator if self._injected[0] else None
        return injected.name if injected is not None else self.settings.model

    @property
    def draft_name(self) -> str | None:
        if self._injected[1]:
            return getattr(self._draft, "name", None)
        models = self.settings.chat_models
        return models[0] if len(models) > 1 else None

    @property
    def chain(self) -> list[ChainModel]:
        """The models that answer, in order (answering/router.py): the draft model when one is
        set, then MODEL. Each is built (and hash-checked) when it is first asked."""
        main = ChainModel(self.model_name, lambda: self.generator, self.system_prompt)
        draft = self.draft_name
        if draft is None:
            return [main]
        return [ChainModel(draft, self._load_draft, self.system_prompt_for(draft)), main]

    def _load_draft(self) -> Generator:
        draft = self.draft_generator
        assert draft is not None, "the chain has a draft only when draft_name is set"
        return draft

    def _sha256_of(self, model: str | None) -> str | None:
        """The SHA-256 of the model that gave an answer (None: a stand-in); for an answer no
        model gave (the gates refused), MODEL's."""
        built = self._draft if model is not None and model == self.draft_name else self._generator
        return getattr(built, "sha256", None)

    def _model_event(self, phase: str, data: dict[str, Any]) -> None:
        """The model's worker started, crashed, fell back or was refused: log and audit."""
        # a probe that fails on the way down the ladder is how the mode is chosen (AMX CPUs)
        falls_back = data.get("next_mode") is not None
        level = (
            logging.INFO
            if phase == "started"
            else (logging.WARNING if falls_back else logging.ERROR)
        )
        said = data.get("reason") or data.get("cpu_mode")
        if falls_back:
            said = f"{said} in cpu mode {data.get('cpu_mode')}; trying {data['next_mode']}"
        log.log(level, "model worker %s: %s", phase, said)
        try:
            record_model_event(self.audit, phase, data)
        except Exception:  # the log says it; a crash report must never crash the server
            log.exception("could not audit the model worker's %s", phase)

    @property
    def generator_if_built(self) -> Generator | None:
        """The generator if already built, without building (and hash-checking) it: metrics."""
        return self._generator

    @property
    def answers_if_built(self) -> AnswerService | None:
        """The answering service if a question built it: metrics read its queue."""
        answers: AnswerService | None = self.__dict__.get("answers")
        return answers

    # -- storage ---------------------------------------------------------------
    @cached_property
    def store(self) -> Store:
        self.settings.ensure_dirs()
        return Store(self.settings.index_dir / "chunks.sqlite")

    @cached_property
    def index(self) -> VectorIndex:
        self.store.bind_embedder(self.embedder.name)  # refuse vectors of another embedder
        index = VectorIndex.open(
            self.settings.index_dir / "vectors.faiss",
            self.embedder.dim,
            self.store,
            exact_max=self.settings.index_exact_max,
        )
        recovery.ensure_consistent(index, self.store)  # a crash between commit and save
        return index

    @cached_property
    def multilingual_index(self) -> VectorIndex | None:
        """The multilingual embedder's FAISS index, under the same vids (None: off)."""
        embedder = self.multilingual_embedder
        if embedder is None:
            return None
        s = self.settings
        return multilingual.open_index(
            self.store, s.index_dir, embedder.name, embedder.dim, s.index_exact_max
        )

    def multilingual_status(self) -> dict[str, Any]:
        """What ``assistant status`` and ``/readyz`` say of the multilingual index."""
        index = self.multilingual_index
        embedder = self.multilingual_embedder
        if index is None or embedder is None:
            return {"state": "off", "reason": self._multilingual_off}
        return multilingual.status(self.store, embedder.name)

    # -- services --------------------------------------------------------------
    @cached_property
    def retriever(self) -> Retriever:
        s = self.settings
        second = self.multilingual_index
        if second is not None and not multilingual.complete(self.store):
            second = None  # half an index would skew the fusion: English alone until filled
        return Retriever(
            self.store,
            self.index,
            self.embedder,
            top_k=s.top_k,
            min_score=s.min_score,
            min_relative=s.min_relative_score,
            per_document=s.max_chunks_per_document,
            coverage=CoverageGate(s.min_coverage, s.weak_match_score, s.weak_match_coverage),
            multilingual_index=second,
            multilingual_embedder=self.multilingual_embedder if second is not None else None,
            min_score_multilingual=multilingual_gate(s),
            # what other processes commit is searched within a second (store/follow.py)
            follower=Follower(
                self.store, [self.index, *([second] if second else [])], writing=self._writing
            ),
        )

    def _writing(self) -> bool:
        """Whether this process's ingestor is the index's writer now."""
        ingestor = self.__dict__.get("ingestor")
        return ingestor is not None and ingestor.committer.writing

    @cached_property
    def answers(self) -> AnswerService:
        s = self.settings
        first, *fallbacks = self.chain  # the draft model first, when one is set
        generator = first.load()
        # replicas × sequences each, as the workers report it (PARALLEL=auto: when started)
        slots = lambda: int(getattr(generator, "capacity", 1))  # noqa: E731  (the queue keeps ≥ 1)
        return AnswerService(
            self.retriever,
            generator,
            **answer_knobs(s),  # the same as the eval's (answering/knobs.py)
            queue=ModelQueue(
                max_waiting=s.queue_max_waiting, retry_after=s.retry_after_s, slots=slots
            ),
            timeout_s=s.request_timeout_s,
            # every answer, whichever door it left by, is audited
            audit=AnswerAuditor(lambda: self.audit, self._sha256_of),
            observers=[observe_done, self.history.record],  # metrics; the user's history
            # a follow-up to a reopened conversation reads its saved turns (answering/history.py)
            conversations=Conversations(loader=self._saved_turns),
            system_prompt=first.system_prompt,
            fallbacks=fallbacks,  # take over when the draft refuses or is withheld
            # personal data masked for collections set to redact it (answering/redaction.py)
            redaction=Redaction(self.redactor, self.access.store.redacting),
        )

    @cached_property
    def history(self) -> ChatHistory:
        """Each user's saved conversations (personal data: DATA_DIR/history.sqlite)."""
        s = self.settings
        return ChatHistory(s.data_dir / "history.sqlite", retention_days=s.history_retention_days)

    def _saved_turns(self, key: str) -> list[Turn]:
        user, _, cid = key.partition("\x00")  # the service's key: user, then conversation
        return self.history.turns(user, cid)

    @cached_property
    def redactor(self) -> Redactor:
        """The personal-data patterns, compiled once (assistant/text/pii.py)."""
        return Redactor(extra=self.settings.pii_patterns)

    @cached_property
    def pii_mask(self) -> Mask:
        """Masks a record's texts for an export when its collection redacts (audit/masking.py)."""
        return masker(self.access.store.redacting, self.redactor)

    @property
    def system_prompt(self) -> str:
        """MODEL's system prompt: with worked examples unless they confuse it."""
        return self.system_prompt_for(self.settings.model)

    @staticmethod
    def system_prompt_for(model: str) -> str:
        spec = CATALOG.get(model)  # "echo" and other stand-ins: the default
        return system_prompt(spec.prompt_examples if spec is not None else True)

    @cached_property
    def ingestor(self) -> Ingestor:
        # parse limits, OCR and quarantine come from settings (ingest/pipeline.py)
        ingestor = Ingestor.from_settings(
            self.settings,
            self.store,
            self.index,
            self.embedder,
            multilingual_index=self.multilingual_index,  # both indexes, same vids
            multilingual_embedder=self.multilingual_embedder,
        )
        audit = IngestAuditor(  # every document added, replaced or erased is audited
            lambda: self.audit,
            collection_rules=lambda: self.access.collection_rules(),
            receipts_after=lambda after: iter_receipts(self.store, after),
        )
        ingestor.on_ingest.append(audit.ingested)
        ingestor.on_erasure.append(audit.erased)
        return ingestor

    # -- access control (assistant/auth) -----------------------------------------------
    @cached_property
    def access(self) -> AccessControl:
        s = self.settings
        s.ensure_dirs()

        def record(kind: str, actor: str, data: Mapping[str, Any]) -> None:
            recorder(self.audit)(kind, actor, data)  # addresses go to the erasable store

        return AccessControl(
            AuthStore(s.data_dir / "auth.sqlite"),
            SessionManager(
                idle_s=s.session_idle_minutes * 60, absolute_s=s.session_max_hours * 3600
            ),
            login_limiter=RateLimiter(s.login_attempts_per_minute, 60),
            question_limiter=RateLimiter(s.questions_per_minute, 60),
            export_limiter=RateLimiter(s.exports_per_hour, 3600),
            trusted_proxies=s.trusted_proxies,
            record=record,
        )

    # -- audit log (assistant/audit) ---------------------------------------------
    @property
    def audit(self) -> AuditLog:
        """The audit log, opened on first use (thread-safe: one per process)."""
        with self._lock:
            log: AuditLog | None = getattr(self, "_audit", None)
            if log is None:
                self.settings.ensure_dirs()
                log = self._audit = AuditLog.from_settings(self.settings)
            return log

    def close(self) -> None:
        for model in (self._draft, self._generator):
            close_model = getattr(model, "close", None)
            if close_model is not None:  # stops the model's worker process
                close_model()
        audit: AuditLog | None = getattr(self, "_audit", None)
        if audit is not None:
            del self._audit
            audit.close()
        if "ingestor" in self.__dict__:  # saves the index, stops the parser process
            self.ingestor.close()
        if "store" in self.__dict__:
            self.store.close()
        if "access" in self.__dict__:
            self.access.store.close()
        if "history" in self.__dict__:
            self.history.close()
        # forget what was closed, so a later use (another app in the same process) reopens it
        for name in (
            "ingestor",
            "answers",
            "retriever",
            "index",
            "multilingual_index",
            "store",
            "access",
            "history",
        ):
            self.__dict__.pop(name, None)
