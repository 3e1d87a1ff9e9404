"""HaluEval loader: glued sentences are split again; the retrieval subset is fixed and sound."""

from __future__ import annotations

from assistant.eval.halueval import QAItem, retrieval_set, unglue


def test_unglue_splits_sentences_but_not_initials_or_names() -> None:
    assert unglue("in the 19th century.First for Women") == "in the 19th century. First for Women"
    assert unglue('it ended (1999).The "end".Next?Yes') == 'it ended (1999). The "end". Next? Yes'
    assert unglue("he said.“Quote”") == "he said. “Quote”"
    assert unglue("born in the U.S.A.He left") == "born in the U.S.A. He left"
    for kept in ("J.R.R. Tolkien", "ASP.NET", "U.S. Army", "version 2.0", "e.g. this"):
        assert unglue(kept) == kept


def _item(n: int, knowledge: str) -> QAItem:
    return QAItem(n, f"question {n}?", knowledge, "a", "b")


def test_retrieval_set_is_fixed_distinct_and_gold_is_own_passage() -> None:
    items = [_item(n, f"passage {n % 40}") for n in range(1, 101)]  # 40 distinct texts
    a = retrieval_set(items, passages=30, queries=10, seed=0)
    b = retrieval_set(items, passages=30, queries=10, seed=0)
    assert a == b and len(a.passages) == 30 and len(a.queries) == 10
    assert len({p.text for p in a.passages}) == 30
    by_id = {p.id: p.text for p in a.passages}
    assert all(by_id[q.gold] == q.item.knowledge for q in a.queries)
    assert retrieval_set(items, passages=30, queries=10, seed=1) != a
