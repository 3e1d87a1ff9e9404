"""The second, multilingual dense index end to end, with deterministic embedders: ingest
fills both indexes under the same vids, erasure empties both, both rebuild from SQLite, an
older store is upgraded and filled, the language-aware fusion and the Arabic gate.

The multilingual stand-in maps a few Arabic words to their English ones before hashing,
so that Arabic and English texts about the same thing share vector dimensions, as in a
real multilingual space; the first embedder is the English-only HashEmbedder."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import faiss
import numpy as np
import pytest

from assistant.answering.generator import EchoGenerator
from assistant.errors import EmbedderMismatch
from assistant.eval.dataset import EvalItem
from assistant.eval.report import from_dict, retrieval_rows, to_dict
from assistant.eval.runner import run_eval
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.retrieval import fusion
from assistant.settings import Settings
from assistant.store import multilingual, recovery
from assistant.store.documents import Store

#: Arabic words and the English word each one means.
LEXICON = {
    "الإجازة": "leave",
    "إجازة": "leave",
    "السنوية": "annual",
    "يوما": "days",
    "يوم": "days",
    "كم": "many",
    "الموظف": "employee",
    "الموظفين": "employee",
    "الشبكة": "vpn",
    "الافتراضية": "vpn",
    "كلمة": "password",
    "المرور": "password",
    "تغيير": "change",
    "الزوار": "visitors",
    "مواقف": "parking",
    "السيارات": "parking",
}


class TranslatingEmbedder:
    """A deterministic bilingual stand-in: Arabic words become their English ones, then hash."""

    def __init__(self) -> None:
        self._hash = HashEmbedder(256)
        self.name = "translating-256"
        self.dim = 256

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        translated = [" ".join(LEXICON.get(w, w) for w in t.split()) for t in texts]
        return self._hash.embed(translated)


def make(settings: Settings, *, second: bool = True) -> Resources:
    return Resources(
        settings,
        embedder=HashEmbedder(),
        generator=EchoGenerator(),
        multilingual_embedder=TranslatingEmbedder() if second else None,
    )


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "leave.md").write_text(
        "# سياسة الإجازة\n\nيحصل كل الموظف على 30 يوما من الإجازة السنوية المدفوعة.\n", "utf-8"
    )
    (folder / "vpn.txt").write_text(
        "Connect to the vpn before opening the intranet; change your password every 90 days.\n",
        "utf-8",
    )
    (folder / "parking.txt").write_text(
        "Visitors park in the north parking behind reception.\n", "utf-8"
    )
    return folder


@pytest.fixture
def both(settings: Settings, docs: Path) -> Iterator[Resources]:
    res = make(settings)
    res.ingestor.ingest([docs], "c")
    yield res
    res.close()


def _saved_ids(path: Path) -> set[int]:
    index = faiss.read_index(str(path))
    return {int(i) for i in faiss.vector_to_array(index.id_map)}


def _names(res: Resources, vids: list[int]) -> list[str]:
    rows = res.store.chunks_for_vids(vids)
    return [Path(rows[v][1].path).name for v in vids if v in rows]


def test_ingest_writes_both_indexes_under_the_same_vids(both: Resources) -> None:
    store = both.store
    chunks = store.counts()["chunks"]
    assert chunks >= 3
    assert store.vector_count("primary") == store.vector_count("multilingual") == chunks
    assert store.multilingual_missing() == 0
    vids = {int(v) for v in store.all_vectors(384)[0]}
    assert {int(v) for v in store.all_vectors(256, "multilingual")[0]} == vids
    assert both.multilingual_index is not None
    assert set(both.multilingual_index.vectors(sorted(vids))) == vids
    assert store.multilingual_embedder_name() == "translating-256"
    index_dir = both.settings.index_dir
    both.close()  # saves both files, each with the store generation it reflects
    assert _saved_ids(index_dir / "vectors.faiss") == vids
    assert _saved_ids(index_dir / multilingual.FILE) == vids


def test_erasure_removes_from_both_indexes(both: Resources, docs: Path) -> None:
    vpn = str(docs / "vpn.txt")
    doc_id = both.store.path_entry(vpn)
    assert doc_id is not None
    before = {int(v) for v in both.store.all_vectors(256, "multilingual")[0]}
    done = both.ingestor.erase([vpn])
    assert done.vids and set(done.vids) <= before
    second = both.multilingual_index
    assert second is not None
    assert both.index.vectors(done.vids) == {} and second.vectors(done.vids) == {}
    left = {int(v) for v in both.store.all_vectors(256, "multilingual")[0]}
    assert left == before - set(done.vids)  # the rows went with their chunks
    index_dir = both.settings.index_dir
    both.close()
    assert not _saved_ids(index_dir / multilingual.FILE) & set(done.vids)
    assert not _saved_ids(index_dir / "vectors.faiss") & set(done.vids)


def test_an_erasure_with_the_index_off_leaves_no_stale_file(
    settings: Settings, both: Resources, docs: Path
) -> None:
    index_dir = settings.index_dir
    both.close()
    assert (index_dir / multilingual.FILE).exists()
    off = make(settings, second=False)
    try:
        done = off.ingestor.erase([str(docs / "vpn.txt")])
    finally:
        off.close()
    assert not (index_dir / multilingual.FILE).exists()  # it held the erased vectors
    res = make(settings)
    try:
        second = res.multilingual_index  # rebuilt from the store, without them
        assert second is not None and second.ntotal == res.store.vector_count("multilingual")
        assert second.vectors(done.vids) == {}
    finally:
        res.close()


def test_both_indexes_rebuild_from_sqlite(settings: Settings, both: Resources) -> None:
    vids = {int(v) for v in both.store.all_vectors(384)[0]}
    index_dir = settings.index_dir
    both.close()
    for name in ("vectors.faiss", multilingual.FILE):
        (index_dir / name).unlink()  # lost: the store still holds every vector
    res = make(settings)
    try:
        second = res.multilingual_index
        assert second is not None and second.ntotal == res.index.ntotal == len(vids)
        assert set(second.vectors(sorted(vids))) == vids
        found = res.retriever.search("كم يوما الإجازة السنوية؟")
        assert _names(res, found.ranked("multilingual"))[0] == "leave.md"
    finally:
        res.close()
    assert _saved_ids(index_dir / multilingual.FILE) == vids


def _make_schema_2(path: Path) -> None:
    """The store as the version before this one left it: no multilingual_vectors table."""
    db = sqlite3.connect(path)
    db.execute("DROP TABLE multilingual_vectors")
    db.execute("UPDATE meta SET value = 2 WHERE key = 'schema'")
    db.commit()
    db.close()


def test_an_older_store_is_upgraded_reported_and_filled(settings: Settings, docs: Path) -> None:
    old = make(settings, second=False)  # today's behaviour: MiniLM's index alone
    old.ingestor.ingest([docs], "c")
    assert old.multilingual_status()["state"] == "off"
    chunks = old.store.counts()["chunks"]
    old.close()
    _make_schema_2(settings.index_dir / "chunks.sqlite")

    res = make(settings)
    try:
        store = res.store
        assert store.multilingual_missing() == chunks  # the table is back, empty
        status = res.multilingual_status()
        assert status["state"] == "incomplete" and status["missing"] == chunks
        assert f"missing for {chunks} chunks" in status["reason"]
        # half an index would skew the fusion: the retriever works as before meanwhile
        assert res.retriever.multilingual_index is None
        found = res.retriever.search("Where do visitors park?")
        assert found.multilingual == [] and found.cosine_multilingual == {}
        assert _names(res, found.ranked("hybrid"))[0] == "parking.txt"
        # a document ingested now gets both vectors
        (docs / "new.txt").write_text("The canteen opens at noon.\n", "utf-8")
        res.ingestor.ingest([docs], "c")
        assert store.multilingual_missing() == chunks
        seen: list[tuple[int, int]] = []
        assert res.ingestor.fill_multilingual(lambda d, t: seen.append((d, t))) == chunks
        assert seen[-1] == (chunks, chunks) and store.multilingual_missing() == 0
    finally:
        res.close()
    with sqlite3.connect(settings.index_dir / "chunks.sqlite") as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == 3
    res = make(settings)  # the next start takes the whole index up
    try:
        assert res.multilingual_status()["state"] == "ready"
        assert res.retriever.multilingual_index is not None
        found = res.retriever.search("كم يوما الإجازة السنوية؟")
        assert _names(res, found.ranked("hybrid"))[0] == "leave.md"
    finally:
        res.close()


def test_vectors_of_another_multilingual_embedder_are_refused(both: Resources) -> None:
    with pytest.raises(EmbedderMismatch, match="translating-256"):
        both.store.bind_multilingual_embedder("usem3@numpy")
    both.store.bind_multilingual_embedder("translating-256")  # the same one: fine


def test_the_setting_none_is_todays_behaviour(settings: Settings, docs: Path) -> None:
    res = Resources(settings.model_copy(update={"multilingual_embedding_model": None}))
    try:
        assert res.multilingual_embedder is None and res.multilingual_index is None
        assert res.multilingual_status() == {
            "state": "off",
            "reason": "multilingual_embedding_model is none",
        }
    finally:
        res.close()
    assert Settings(multilingual_embedding_model="none").multilingual_embedding_model is None
    assert Settings().multilingual_embedding_model == "usem3"
    assert "usem3" in Settings().model_names


# -- fusion and gate -----------------------------------------------------------------------
def test_language_aware_fusion_drops_minilm_for_arabic() -> None:
    dense = [(1, 0.9), (2, 0.5), (3, 0.4)]  # MiniLM is sure of 1
    multi = [(2, 0.8), (1, 0.3)]  # the multilingual index of 2
    lexical = [(2, 5.0), (3, 1.0)]
    cos = {**dict(dense), 4: 0.1}
    weights = fusion.LANGUAGE_WEIGHTS
    arabic = fusion.language_aware(dense, multi, lexical, cos, weights["ar"])
    english = fusion.language_aware(dense, multi, lexical, cos, weights["en"])
    assert weights["ar"] == (0.0, 1.0, 1.0) and weights["en"] == (1.0, 0.0, 1.0)
    # without MiniLM's vote: the mean of the multilingual and lexical z-scores, each list's
    # floor for a candidate it did not return
    m_mu, m_sd = fusion.standardise([0.8, 0.3])
    l_mu, l_sd = fusion.standardise([5.0, 1.0])
    want = {
        1: (0.3 - m_mu) / m_sd + (1.0 - l_mu) / l_sd,
        2: (0.8 - m_mu) / m_sd + (5.0 - l_mu) / l_sd,
        3: (0.3 - m_mu) / m_sd + (1.0 - l_mu) / l_sd,
    }
    assert dict(arabic) == pytest.approx({v: w / 2 for v, w in want.items()})
    assert [v for v, _ in arabic] == [2, 1, 3]  # MiniLM's candidates still take part
    # an English question on English passages: MiniLM's and BM25's votes, as before the
    # multilingual index -- the same order as ``zscore``, half its scale
    zscore = fusion.zscore(dense, lexical, cos)
    assert [v for v, _ in english] == [v for v, _ in zscore]
    assert dict(english) == pytest.approx({v: s / 2 for v, s in zscore})
    d_mu, d_sd = fusion.standardise([0.9, 0.5, 0.4])
    three = fusion.language_aware(dense, multi, lexical, cos, (1.0, 1.0, 1.0))
    assert dict(three) == pytest.approx({v: (want[v] + (cos[v] - d_mu) / d_sd) / 3 for v in want})


def test_a_passage_in_the_other_language_is_judged_by_the_multilingual_index() -> None:
    """An English question; 7 is an Arabic passage the multilingual index ranks first.
    MiniLM's cosine for it is noise and BM25 cannot match it: they abstain, so it is
    scored by the multilingual vote alone -- and BM25 judges it where it returned it."""
    dense = [(1, 0.7), (2, 0.6), (7, 0.1)]
    multi = [(7, 0.9), (1, 0.5), (2, 0.4)]
    lexical = [(1, 4.0), (2, 3.0)]
    cos = dict(dense)
    weights = fusion.LANGUAGE_WEIGHTS["en"]  # the multilingual vote is not one of them
    summed = fusion.language_aware(dense, multi, lexical, cos, weights)
    judged = fusion.language_aware(dense, multi, lexical, cos, weights, frozenset({7}))
    assert summed[0][0] == 1 and judged[0][0] == 7
    m_mu, m_sd = fusion.standardise([0.9, 0.5, 0.4])
    assert dict(judged)[7] == pytest.approx((0.9 - m_mu) / m_sd)  # yet it judges 7
    assert dict(judged)[1] == pytest.approx(dict(summed)[1])  # the others as before
    shared = [(7, 9.0), (1, 4.0)]  # BM25 returned 7 (a code both texts hold): it judges it
    l_mu, l_sd = fusion.standardise([9.0, 4.0])
    both = dict(fusion.language_aware(dense, multi, shared, cos, weights, frozenset({7})))
    assert both[7] == pytest.approx(((0.9 - m_mu) / m_sd + (9.0 - l_mu) / l_sd) / 2)


def test_zscore_is_the_two_vote_fusion() -> None:
    rng = np.random.default_rng(0)
    dense = [(i, float(s)) for i, s in enumerate(sorted(rng.random(8), reverse=True))]
    lexical = [(i + 4, float(s)) for i, s in enumerate(sorted(rng.random(6) * 9, reverse=True))]
    cosine = {**dict(dense), **{v: 0.1 for v, _ in lexical if v >= 8}}
    fused = dict(fusion.zscore(dense, lexical, cosine))
    d_mu, d_sd = fusion.standardise([s for _, s in dense])
    l_mu, l_sd = fusion.standardise([s for _, s in lexical])
    floor = min(s for _, s in lexical)
    for vid, score in fused.items():
        want = (cosine[vid] - d_mu) / d_sd + (dict(lexical).get(vid, floor) - l_mu) / l_sd
        assert score == pytest.approx(want)


def test_an_arabic_question_is_gated_on_the_multilingual_cosine(both: Resources) -> None:
    retriever = both.retriever
    arabic = "كم يوما الإجازة السنوية؟"
    found = retriever.search(arabic)
    assert found.language == "ar" and found.gated_multilingual
    assert found.relevance == max(found.cosine_multilingual.values()) != found.best_cosine
    assert retriever.threshold(found) == retriever.min_score_multilingual
    retriever.min_score, retriever.min_score_multilingual = 0.99, 0.05
    hits = retriever.retrieve(arabic)  # MiniLM's gate would refuse: not asked
    assert hits and Path(hits[0].document.path).name == "leave.md"
    retriever.min_score, retriever.min_score_multilingual = 0.05, 0.99
    assert retriever.retrieve(arabic) == []
    english = retriever.search("Where do visitors park?")
    assert not english.gated_multilingual and english.relevance == english.best_cosine
    assert retriever.retrieve("Where do visitors park?")  # MiniLM's gate, at 0.05


def test_either_language_finds_the_other(both: Resources) -> None:
    """Cross-lingual retrieval comes from the multilingual index alone (BM25 and the
    English-only embedder share no word between the two languages)."""
    r = both.retriever
    english = r.search("annual leave employee")
    assert _names(both, english.ranked("hybrid"))[0] == "leave.md"
    assert english.lexical == []  # no English word of it is in the Arabic policy
    arabic = r.search("تغيير كلمة المرور")
    assert _names(both, arabic.ranked("hybrid"))[0] == "vpn.txt"
    assert max(abs(c) for c in arabic.cosine.values()) < 1e-6  # the English one sees nothing


def test_the_eval_reports_the_multilingual_ranking_and_gate(both: Resources) -> None:
    items = [
        EvalItem("كم يوما الإجازة السنوية؟", ["30"], ["leave.md"], kind="ar"),
        EvalItem("How many days of annual leave?", ["30"], ["leave.md"], kind="en-ar"),
        EvalItem("مواقف السيارات الزوار", [], []),
    ]
    report = run_eval(both, items, dataset="tiny", retrieval_only=True)
    assert set(report.retrieval) == {"hybrid", "dense", "lexical", "multilingual"}
    assert report.retrieval["multilingual"].recall_5 == 1.0
    assert "dense (multilingual)" in [row[0] for row in retrieval_rows(report)]
    gate = report.gate
    assert gate.min_score_multilingual == both.retriever.min_score_multilingual == 0.2
    assert gate.grid_multilingual and all(0 <= u <= 1 for _, u, _ in gate.grid_multilingual)
    assert len([g for g in gate.grid if g]) >= 1
    assert report.settings["multilingual"] == "translating-256"
    assert from_dict(to_dict(report)).gate.grid_multilingual == gate.grid_multilingual


def test_an_old_results_file_still_renders(both: Resources) -> None:
    report = run_eval(both, [EvalItem("Where do visitors park?", [], ["parking.txt"])],
                      dataset="t", retrieval_only=True)  # fmt: skip
    data = to_dict(report)
    del data["retrieval"]["multilingual"]
    del data["gate"]["grid_multilingual"], data["gate"]["min_score_multilingual"]
    old = from_dict(data)
    assert [row[0] for row in retrieval_rows(old)] == [
        "hybrid (z-score fusion)",
        "dense (FAISS)",
        "BM25 (FTS5)",
    ]


def test_a_store_opened_alone_reports_what_is_missing(settings: Settings, docs: Path) -> None:
    res = make(settings, second=False)
    res.ingestor.ingest([docs], "c")
    res.close()
    store = Store(settings.index_dir / "chunks.sqlite")
    try:
        assert not multilingual.complete(store)
        assert multilingual.status(store, "usem3@numpy")["missing"] == store.counts()["chunks"]
        store.bind_multilingual_embedder("usem3@numpy")
        store.bind_multilingual_embedder("other@numpy")  # no vector yet: nothing disagrees
        assert store.multilingual_embedder_name() == "other@numpy"
    finally:
        store.close()


def test_an_english_question_passes_on_an_arabic_passage(both: Resources) -> None:
    """MiniLM cannot judge an English question against an Arabic passage either: below
    ``min_score`` the question still passes on an Arabic passage's multilingual cosine, and
    on nothing else."""
    retriever = both.retriever
    retriever.min_score, retriever.min_score_multilingual = 0.99, 0.3
    hits = retriever.retrieve("annual leave employee")
    assert hits and Path(hits[0].document.path).name == "leave.md"
    found = retriever.search("Where do visitors park?")  # close only to an English notice
    assert found.best_cosine < 0.99 and max(found.cosine_multilingual.values()) >= 0.3
    assert not retriever.admits(found) and retriever.retrieve("Where do visitors park?") == []


def test_readiness_reports_the_multilingual_index(both: Resources) -> None:
    from assistant.observability.readiness import Readiness

    ready, checks = Readiness(
        counts=both.store.counts,
        embedder=lambda: both.embedder,
        model="echo",
        generator=lambda: both.generator,
        multilingual=both.multilingual_status,
    ).check()
    assert ready and checks["multilingual_index"] == {
        "state": "ready",
        "model": "translating-256",
        "vectors": both.store.counts()["chunks"],
        "missing": 0,
    }


def _old_store(settings: Settings, docs: Path) -> int:
    """A store whose chunks have MiniLM's vectors only (ingested with the index off)."""
    old = make(settings, second=False)
    old.ingestor.ingest([docs], "c")
    chunks = old.store.counts()["chunks"]
    old.close()
    return chunks


def test_assistant_reembed_fills_what_is_missing(settings: Settings, docs: Path) -> None:
    from assistant.cli.multilingual import fill_multilingual_with_progress

    chunks = _old_store(settings, docs)
    res = make(settings)
    try:
        assert fill_multilingual_with_progress(res) == chunks
        assert res.store.multilingual_missing() == 0
        assert fill_multilingual_with_progress(res) == 0  # nothing left: nothing done
    finally:
        res.close()
    store = Store(settings.index_dir / "chunks.sqlite")
    try:
        vids = {int(v) for v in store.all_vectors(384)[0]}
    finally:
        store.close()
    assert _saved_ids(settings.index_dir / multilingual.FILE) == vids


def test_a_reembedding_of_minilm_keeps_the_multilingual_vectors(
    settings: Settings, both: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    from ingest.reembed import reembed

    vids = {int(v) for v in both.store.all_vectors(256, "multilingual")[0]}
    both.close()
    store = Store(settings.index_dir / "chunks.sqlite")
    try:
        reembed(store, settings.index_dir / "vectors.faiss", HashEmbedder(128))
    finally:
        store.close()
    res = Resources(
        settings,
        embedder=HashEmbedder(128),
        generator=EchoGenerator(),
        multilingual_embedder=TranslatingEmbedder(),
    )
    try:  # the generation moved, and the multilingual file with it: opened, not rebuilt
        with caplog.at_level(logging.WARNING, logger="assistant.store.recovery"):
            second = res.multilingual_index
        assert second is not None and set(second.vectors(sorted(vids))) == vids
        assert "out of step" not in caplog.text
        assert recovery.saved_generation(second) == res.store.generation()
        assert res.multilingual_status()["state"] == "ready"
        found = res.retriever.search("كم يوما الإجازة السنوية؟")
        assert _names(res, found.ranked("hybrid"))[0] == "leave.md"
    finally:
        res.close()


def test_a_writer_catches_up_with_a_fill_made_elsewhere(settings: Settings, docs: Path) -> None:
    chunks = _old_store(settings, docs)
    writer = make(settings)
    filler = make(settings)
    try:
        committer = writer.ingestor.committer  # read the indexes: no multilingual vector yet
        second = writer.multilingual_index
        assert second is not None and second.ntotal == 0
        assert filler.ingestor.fill_multilingual() == chunks
        filler.close()  # the writer lock goes with it
        (docs / "new.txt").write_text("The canteen opens at noon.\n", "utf-8")
        writer.ingestor.ingest([docs], "c")  # takes the lock: catches up, then adds
        assert committer.multilingual is second
        assert second.ntotal == writer.store.vector_count("multilingual") == chunks + 1
    finally:
        writer.close()
        filler.close()
    assert len(_saved_ids(settings.index_dir / multilingual.FILE)) == chunks + 1


class RecordingEmbedder(TranslatingEmbedder):
    """The bilingual stand-in, keeping every text it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return super().embed(texts)


def test_an_arabic_context_is_chosen_in_the_multilingual_space(
    settings: Settings, docs: Path
) -> None:
    """MiniLM's similarity on Arabic is noise: the sentences of an Arabic passage that
    must be cut to the context budget are chosen with the multilingual embedder."""
    (docs / "leave.md").write_text(
        "# سياسة الإجازة\n\n"
        + " ".join(["يقدم طلب الإجازة في النظام."] * 12)  # about leave, as its title
        + " يحصل كل الموظف على 30 يوما من الإجازة السنوية المدفوعة.\n",
        "utf-8",
    )
    recording = RecordingEmbedder()
    small = settings.model_copy(  # the echo's answer, the first sentence, gives no figure
        update={"context_tokens": 30, "min_score_multilingual": 0.05, "verify_grounding": False}
    )
    res = Resources(
        small, embedder=HashEmbedder(), generator=EchoGenerator(), multilingual_embedder=recording
    )
    try:
        res.ingestor.ingest([docs], "c")
        recording.seen.clear()
        answer = res.answers.answer("كم يوما الإجازة السنوية؟")
        assert any("30 يوما" in text for text in recording.seen[1:])  # [0]: the question
        assert "30" in answer.citations[0].quote
        recording.seen.clear()
        res.answers.answer("Where do visitors park?")  # English, English passages: MiniLM's
        assert recording.seen == ["Where do visitors park?"]
    finally:
        res.close()
