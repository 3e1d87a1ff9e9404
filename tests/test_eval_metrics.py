"""The eval's measures, its dataset reader and gold resolution (no models)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from assistant.eval import metrics as m
from assistant.eval.corpus import HtmlParser, PlainTextParser
from assistant.eval.dataset import DatasetError, EvalItem, GoldResolver, load_dataset
from assistant.eval.report import from_dict, to_dict
from assistant.eval.runner import run_eval, spread
from assistant.resources import Resources


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
