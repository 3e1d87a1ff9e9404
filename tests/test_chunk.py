import itertools

from ingest.chunk import chunk_elements, split_long
from ingest.parsing.parse import Element


def test_chunks_never_cross_headings_or_pages() -> None:
    elements = [
        Element("Handbook", "title", 1),
        Element("Welcome", "title", 1),
        Element("Hours are 9 to 5.", "text", 1),
        Element("Leave", "title", 2),
        Element("You get 27 days.", "text", 2),
        Element("Book it early.", "text", 3),
    ]
    chunks = chunk_elements(elements, max_chars=500)
    assert [(c.page, c.section) for c in chunks] == [(1, "Welcome"), (2, "Leave"), (3, "Leave")]
    assert chunks[0].text == "Handbook\nWelcome\nHours are 9 to 5."
    assert chunks[1].text == "Leave\nYou get 27 days."
    assert chunks[2].text == "Book it early."


def test_long_text_is_split_at_sentence_ends_within_the_limit() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(50))
    pieces = split_long(text, 120)
    assert all(len(p) <= 120 for p in pieces)
    assert all(p.endswith(".") for p in pieces)
    assert " ".join(pieces) == text


def test_a_sentence_longer_than_the_limit_is_cut_at_spaces() -> None:
    text = "word " * 100
    pieces = split_long(text.strip(), 50)
    assert all(len(p) <= 50 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_packing_respects_the_limit() -> None:
    elements = [Element("Section", "title", None)] + [
        Element(f"Paragraph {i} " + "x" * 80, "text", None) for i in range(20)
    ]
    chunks = chunk_elements(elements, max_chars=300)
    assert len(chunks) > 3
    assert all(len(c.text) <= 300 for c in chunks)
    assert all(c.section == "Section" for c in chunks)
    joined = "\n".join(c.text for c in chunks)
    assert all(f"Paragraph {i} " in joined for i in range(20))


def test_overlap_repeats_the_tail_of_a_chunk_cut_for_size_only() -> None:
    elements = [
        Element("Leave", "title", 1),
        *[Element(f"Rule {i} says staff book leave {i} weeks ahead.", "text", 1) for i in range(8)],
        Element("Pay", "title", 1),
        Element("Salaries are paid monthly.", "text", 1),
    ]
    plain = chunk_elements(elements, max_chars=150)
    overlapped = chunk_elements(elements, max_chars=150, overlap=60)
    assert all(len(c.text) <= 150 for c in overlapped)
    leave = [c.text for c in overlapped if c.section == "Leave"]
    for before, after in itertools.pairwise(leave):
        shared = max(n for n in range(61) if before.endswith(after[:n]))
        assert shared > 20  # the next chunk starts with the tail of the one before
        assert before[-shared - 1].isspace()  # from the start of a word
    # no carry across a heading, and nothing changes without overlap
    assert overlapped[-1].text == "Pay\nSalaries are paid monthly."
    assert [c.text for c in plain] == [c.text for c in chunk_elements(elements, 150, overlap=0)]
    assert len(overlapped) >= len(plain)
