"""``assistant eval`` end to end on a tiny built-in set with the real small models.

Asserts that every measure is computed, not what it comes to: the figures
themselves are `make eval`'s business (docs/EVAL.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli.main import cli
from assistant.models.catalog import get_spec
from assistant.models.install import installed_path
from tests.conftest import MODELS, SAMPLE, TEST_MODEL

pytestmark = pytest.mark.slow

DATASET = Path(__file__).parent / "data" / "eval-sample.jsonl"


def _unit(x: object) -> bool:
    return isinstance(x, float | int) and 0.0 <= float(x) <= 1.0


def test_eval_reports_every_measure(tmp_path: Path) -> None:
    for name in (TEST_MODEL, "all-minilm-l6-v2", "usem3"):
        if not installed_path(get_spec(name), MODELS).exists():
            pytest.fail(f"model {name} is not installed in {MODELS}: run `make test`")
    env = {
        "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
        "ASSISTANT_MODELS_DIR": str(MODELS),
        "ASSISTANT_MODEL": TEST_MODEL,
    }
    result = CliRunner().invoke(
        cli,
        ["eval", str(DATASET), "--corpus", str(SAMPLE), "--json", "--max-tokens", "48"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["questions"], report["answerable"], report["unanswerable"]) == (5, 4, 1)
    assert report["unresolved_gold"] == 0
    assert set(report["retrieval"]) == {"hybrid", "dense", "lexical", "multilingual"}
    for scores in report["retrieval"].values():
        assert scores.pop("n") == 4  # the answerable questions: each recall share's n
        assert set(scores) == {"recall_1", "recall_5", "recall_10", "mrr", "ndcg_10"}
        assert all(_unit(v) for v in scores.values()), scores
    gate = report["gate"]
    assert _unit(gate["refused_unanswerable"]) and _unit(gate["refused_answerable"])
    answers = report["answers"]
    assert answers["questions"] == 5
    for key in ("accuracy", "token_f1", "refusal_rate", "unanswerable_answered", "false_refusals"):
        assert _unit(answers[key]), (key, answers)
    assert answers["citation_precision"] is None or _unit(answers["citation_precision"])
    assert answers["refusal_rate"] + answers["unanswerable_answered"] == 1.0
    assert answers["ttft_median_s"] > 0 and answers["ttft_p90_s"] >= answers["ttft_median_s"]
    assert answers["tokens_per_s"] is None or answers["tokens_per_s"] > 0
    assert answers["prompt_tokens_mean"] > 0 and not math.isnan(answers["seconds"])
    assert report["settings"]["model"] == TEST_MODEL


def test_eval_rejects_a_bad_dataset_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{"answers": []}\n', encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["eval", str(bad), "--retrieval-only"], env={"ASSISTANT_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code != 0
    assert "bad.jsonl:2" in result.output
