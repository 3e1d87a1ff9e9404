"""The eval's measures, its dataset reader and gold resolution (no models)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from assistant.eval import metrics as m
from assistant.eval.corpus import HtmlParser, PlainTextParser
from assistant.eval.dataset import DatasetError, EvalItem, GoldResolver, load_dataset
from assistant.eval.report import answer_row, from_dict, retrieval_rows, share_ci, to_dict
from assistant.eval.runner import run_eval, spread
from assistant.eval.scores import AnswerScores, EvalReport, GateScores, RetrievalScores
from assistant.eval.standard import SAMPLES, answer_sizes
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings
from tests.test_grounding_service import FixedGenerator


def test_ranking_metrics() -> None:
    ranked = ["a", "b", "c", "d"]
    assert m.recall_at(ranked, {"c"}, 2) == 0.0
    assert m.recall_at(ranked, {"c"}, 3) == 1.0
    assert m.reciprocal_rank(ranked, {"c"}) == pytest.approx(1 / 3)
    assert m.reciprocal_rank(ranked, {"z"}) == 0.0
    assert m.ndcg_at(ranked, {"a"}) == 1.0
    assert m.ndcg_at(ranked, {"b"}) == pytest.approx(1 / math.log2(3))
    assert m.ndcg_at(ranked, {"a", "b"}) == 1.0
    assert m.dedupe(["x", "y", "x", "z", "y"]) == ["x", "y", "z"]


def test_answer_metrics_normalise_like_squad() -> None:
    assert m.normalise_answer("The  Desert Inn!") == "desert inn"
    assert m.contains_answer("It was the Desert Inn [1].", ["Desert Inn"])
    assert not m.contains_answer("It was the Desert Innsbruck.", ["Desert Inn"])
    assert not m.contains_answer("anything", ["", "  "])


def test_containment_folds_plurals_possessives_and_date_order() -> None:
    assert m.contains_answer("Both were rhythm guitarists [2].", ["rhythm guitarist"])
    assert m.contains_answer(
        "It tested Macau's national security law.", ["Macau national security law"]
    )
    assert m.contains_answer('Etta James\'s signature song is "At Last" [1].', ["Etta James"])
    assert m.contains_answer("It is James’s.", ["James's"])
    assert m.contains_answer("He was born on January 24, 1953 [1].", ["24 January 1953"])
    assert m.contains_answer("On 24 January 1953.", ["January 24, 1953"])
    assert not m.contains_answer("He was born on January 24, 1954.", ["24 January 1953"])
    assert not m.contains_answer("It was Dracula.", ["Count Dracula"])
    assert m.normalise_answer("Guitarists") == "guitarists"  # folding is for containment only
    assert m.token_f1("Desert Inn casino", ["The Desert Inn"]) == pytest.approx(0.8)
    assert m.token_f1("no overlap", ["Desert Inn"]) == 0.0


def test_percentiles_and_means() -> None:
    assert m.percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert m.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 90) == pytest.approx(4.6)
    assert math.isnan(m.percentile([], 50)) and math.isnan(m.mean([]))


def test_wilson_interval_matches_known_values() -> None:
    # reference values: scipy.stats.binomtest(k, n).proportion_ci(method="wilson")
    assert m.wilson(0, 10) == (0.0, pytest.approx(0.2775328, abs=1e-7))
    assert m.wilson(10, 10) == (pytest.approx(0.7224672, abs=1e-7), 1.0)
    assert m.wilson(5, 10) == pytest.approx((0.2365931, 0.7634069), abs=1e-7)
    assert m.wilson(26, 40) == pytest.approx((0.4950588, 0.7786547), abs=1e-7)
    assert m.wilson(297, 300) == pytest.approx((0.9710165, 0.9965934), abs=1e-7)
    assert m.wilson(0, 0) is None
    with pytest.raises(ValueError):
        m.wilson(11, 10)


def test_a_share_is_shown_with_its_interval_when_its_n_is_known() -> None:
    assert share_ci(0.65, 40) == "0.650 [0.50, 0.78]"
    assert share_ci(0.0, 10) == "0.000 [0.00, 0.28]"
    assert share_ci(1.0, 10) == "1.000 [0.72, 1.00]"
    assert share_ci(0.65, None) == "0.650"  # a results.json from before n was kept
    assert share_ci(float("nan"), 0) == "–" and share_ci(None, None) == "–"


def _report(*, n: int | None) -> EvalReport:
    """A report as the runner builds it: 40 + 20 answered, 30 cited passages judged."""
    recall = {
        mode: RetrievalScores(0.9, 0.95, 1.0, 0.93, 0.94, n=n)
        for mode in ("hybrid", "dense", "lexical")
    }
    answers = AnswerScores(
        questions=60,
        answerable=40,
        unanswerable=20,
        accuracy=0.65,
        token_f1=0.2,
        citation_precision=0.9,
        citations=30,
        refusal_rate=0.95,
        unanswerable_answered=0.05,
        false_refusals=0.1,
        ttft_median_s=1.0,
        ttft_p90_s=2.0,
        tokens_per_s=20.0,
        prompt_tokens_mean=500.0,
        seconds=60.0,
        by_model={"m": 1.0},
        escalated=0.0,  # NaN (no draft model) would never compare equal to itself
    )
    gate = GateScores(0.38, 0.1, 0.02, grid=[(0.38, 0.1, 0.02)])
    return EvalReport("tiny", 60, 40, 20, 0, recall, gate, answers, settings={"model": "m"})


def test_counts_survive_results_json_and_old_files_still_read() -> None:
    report = _report(n=40)
    data = json.loads(json.dumps(to_dict(report)))
    assert data["retrieval"]["hybrid"]["n"] == 40
    assert data["answers"]["unanswerable_answered"] == 0.05
    assert from_dict(data) == report
    hybrid = retrieval_rows(report)[0]
    assert hybrid[1:4] == ["0.900 [0.77, 0.96]", "0.950 [0.83, 0.99]", "1.000 [0.91, 1.00]"]
    assert hybrid[4:] == ["0.930", "0.940"]  # MRR and nDCG: means of graded scores, no interval
    assert report.answers is not None
    row = answer_row(report.answers)
    assert row[1] == "0.650 [0.50, 0.78]"  # accuracy: n = 40 answerable
    assert row[3] == "0.900 [0.74, 0.97] (30)"  # citation precision: n = 30 passages judged
    assert row[4:7] == ["0.950 [0.76, 0.99]", "0.050 [0.01, 0.24]", "0.100 [0.04, 0.23]"]

    for scores in data["retrieval"].values():  # a results.json written before counts were kept
        del scores["n"]
    del data["answers"]["unanswerable_answered"]
    old = from_dict(data)
    assert old.retrieval["hybrid"].n is None
    assert retrieval_rows(old)[0][1:4] == ["0.900", "0.950", "1.000"]
    assert old.answers is not None
    assert old.answers.unanswerable_answered == pytest.approx(0.05)  # 1 - refusal
    assert answer_row(old.answers)[5] == "0.050 [0.01, 0.24]"
    assert from_dict(to_dict(_report(n=None))) == _report(n=None)


def test_dataset_lines_are_checked_with_their_line_number(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps({"question": " Q1? ", "answers": ["a"], "gold": ["x.txt"]})
        + "\n\n"
        + json.dumps({"question": "Q2?"})
        + "\n",
        encoding="utf-8",
    )
    items = load_dataset(good)
    assert items == [EvalItem("Q1?", ["a"], ["x.txt"]), EvalItem("Q2?", [], [])]
    assert items[0].answerable and not items[1].answerable
    for n, bad in enumerate(
        ["not json", '{"answers": []}', '{"question": "q", "gold": "x"}', '{"question": " "}']
    ):
        path = tmp_path / f"bad{n}.jsonl"
        path.write_text('{"question": "fine"}\n' + bad + "\n", encoding="utf-8")
        with pytest.raises(DatasetError, match=":2:"):
            load_dataset(path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(DatasetError):
        load_dataset(empty)


def test_spread_keeps_the_mix_of_a_list_with_unanswerables_last() -> None:
    items = [EvalItem(f"q{i}", [], ["g"] if i < 30 else []) for i in range(40)]
    picked = spread(items, 8)
    assert len(picked) == 8 and sum(not i.answerable for i in picked) == 2
    assert spread(items, None) == items and spread(items, 0) == []


def test_standard_eval_answers_whole_sets_unless_given_a_sample_size() -> None:
    items = [EvalItem(f"q{i}", [], ["g"] if i < 30 else []) for i in range(40)]
    assert answer_sizes(items, (None, None)) == (30, 10)  # every question, both kinds
    assert answer_sizes(items, (None, 0)) == (30, 0)
    assert answer_sizes(items, SAMPLES["halueval"]) == (40, 20)  # --sample-models' sizes
    n_ans, n_unans = answer_sizes(items, (None, 4))
    picked = spread([i for i in items if i.answerable], n_ans)
    assert picked == items[:30] and len(spread(items[30:], n_unans)) == 4


def test_light_parsers(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>VACUUM</title></head><body>"
        "<div class='navheader'><p>Prev Next</p></div>"
        "<h2>Description</h2><p>VACUUM reclaims storage.</p>"
        "<ul><li>FULL</li></ul><table><tr><td>a</td><td>b</td></tr></table></body></html>",
        encoding="utf-8",
    )
    doc = HtmlParser().parse(page)
    assert doc.title == "VACUUM"
    assert [(e.kind, e.text) for e in doc.elements] == [
        ("title", "Description"),
        ("text", "VACUUM reclaims storage."),
        ("list", "FULL"),
        ("table", "a | b"),
    ]
    css = tmp_path / "style.css"
    css.write_text("body {}", encoding="utf-8")
    assert HtmlParser().parse(css).elements == []
    txt = tmp_path / "p12.txt"
    txt.write_text("One passage.\n", encoding="utf-8")
    assert PlainTextParser().parse(txt).elements[0].text == "One passage."


def test_retrieval_eval_and_gold_resolution_on_a_real_index(
    resources: Resources, tmp_path: Path
) -> None:
    docs = tmp_path / "corpus"
    docs.mkdir()
    (docs / "hotels.txt").write_text("A hotel night is refunded up to 150 EUR.\n", "utf-8")
    (docs / "trains.txt").write_text("Rail is preferred for journeys under 500 km.\n", "utf-8")
    resources.ingestor.ingest([docs], "eval")
    resolver = GoldResolver(resources.store)
    assert len(resolver.resolve(["hotels.txt"])) == 1
    assert resolver.resolve(["hotels"]) == resolver.resolve([str(docs / "hotels.txt")])
    assert resolver.resolve(["corpus/hotels.txt"]) == resolver.resolve(["hotels.txt"])
    assert resolver.resolve(["nowhere.txt"]) == set()
    items = [
        EvalItem("hotel night refunded", ["150 EUR"], ["hotels.txt"]),
        EvalItem("rail journeys", ["rail"], ["trains"]),
        EvalItem("moon landing date", [], []),
        EvalItem("ghost", ["x"], ["missing.txt"]),
    ]
    report = run_eval(resources, items, dataset="tiny", retrieval_only=True)
    assert report.questions == 4 and report.answerable == 3 and report.unanswerable == 1
    assert report.unresolved_gold == 1
    assert set(report.retrieval) == {"hybrid", "dense", "lexical"}
    for scores in report.retrieval.values():
        assert scores.recall_10 == pytest.approx(2 / 3)
    assert report.answers is None
    assert [g[0] for g in report.gate.grid] == sorted(g[0] for g in report.gate.grid)
    configured = (0.5, 0.45, 0.8)  # the settings' coverage gate is always tabulated
    assert configured in [tuple(row[:3]) for row in report.gate.coverage_grid]
    assert all(0.0 <= row[3] <= 1.0 and 0.0 <= row[4] <= 1.0 for row in report.gate.coverage_grid)
    again = from_dict(to_dict(report))
    assert again.gate.coverage_grid == report.gate.coverage_grid


def test_unanswerable_questions_answered_are_counted_apart(
    settings: Settings, tmp_path: Path
) -> None:
    """A model that always answers: the gate stops two of three unanswerable questions; the
    third reaches the model and gets an invented answer."""
    generator = FixedGenerator("A hotel night is refunded up to 150 EUR [1].")
    res = Resources(settings, embedder=HashEmbedder(), generator=generator)
    try:
        docs = tmp_path / "corpus"
        docs.mkdir()
        (docs / "hotels.txt").write_text("A hotel night is refunded up to 150 EUR.\n", "utf-8")
        (docs / "trains.txt").write_text("Rail is preferred for journeys under 500 km.\n", "utf-8")
        res.ingestor.ingest([docs], "eval")
        items = [
            EvalItem("hotel night refunded", ["150 EUR"], ["hotels.txt"]),
            EvalItem("moon landing date", [], []),
            EvalItem("How much is a hotel night refunded?", [], []),
            EvalItem("who won the 1966 world cup final", [], []),
        ]
        report = run_eval(res, items, dataset="tiny", keep_samples=True)
    finally:
        res.close()
    a = report.answers
    assert a is not None and (a.answerable, a.unanswerable) == (1, 3)
    assert [s["refused"] for s in report.samples[1:]] == [True, False, True]
    assert a.unanswerable_answered == pytest.approx(1 / 3)
    assert a.refusal_rate == pytest.approx(2 / 3)
    assert answer_row(a)[5] == "0.333 [0.06, 0.79]"
    assert report.retrieval["hybrid"].n == 1
