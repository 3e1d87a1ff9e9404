"""Is what an answer asserts backed by the passages it cites? Checked before it is shown.

A small model that is given passages *near* the question -- annual leave for a question
about paternity leave, the travel allowance for the housing allowance -- answers from
them anyway, and the figure it gives is one it read or one it made up. Two cheap checks
against the passages catch most of that without a second model:

- **facts**: every number of two or more digits (dates and amounts included), code
  (``ISO-27001``, ``HR12``) and name (a run of capitalised words) in the answer must occur
  in the passages it cites (all passages given, for a sentence that cites none). Numbers
  compare by value: ``1,000`` is ``1000``, ``٢٥`` is ``25``, and a number written out
  (``twenty-five``) counts too. Code the model writes to illustrate (backticks) is not
  judged. Measured on the eval sets (CHANGELOG.md): single capitalised words
  (``PostgreSQL``, ``SELECT``) and lone digits (list numbers) withheld right answers.
- **counts with units**: "3 weeks" is not backed by a passage that says "3 days" (a lone
  digit is no number to judge, with its unit it is a claim): each count the answer gives
  with a unit (days, weeks, months, years, hours, minutes; English and Arabic) must be in
  the passages with that unit, in digits, in words ("ten weeks", "ثلاثة أيام") or as an
  Arabic dual ("يومين").
- **topic**: a figure that is in the passages, but said there of something else than was
  asked (the hotel cap given as the housing allowance), counts as unsupported (topic.py).
- **evidence**: each answer sentence is matched to the passage sentence that shares
  most of its words; those sentences are the *evidence spans*, shown highlighted in the
  source cards and kept, by id (``chunk_id:sentence``), in the audit record.

An answer with an unsupported fact is withheld (answering/router.py): the user gets
the refusal, and the audit record names the facts that failed. Unless its lead holds
(``grounded_lead``): a small model often gives the right, cited answer and then rambles
on into facts of its own ("27 days [1]. ... the answer is 13"); the user then gets the
sentences before the first unsupported one, and the audit record keeps the cut tail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from assistant.answering.citations import content_words
from assistant.answering.topic import off_topic
from assistant.domain import Citation, off_topic_fact
from assistant.text.sentences import split_sentences

#: An answer's citation marker: ``[2]``, ``[1, 3]``.
MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
#: Letters and digits mixed, or joined by a hyphen to a number: codes and models.
_CODE = re.compile(r"\b(?=\w*\d)(?=\w*[A-Za-z])\w+(?:-\w+)*\b|\b[A-Za-z]+-\d[\w-]*\b")
#: Two or more capitalised words in a row: a person, place or organisation.
_NAME_RUN = re.compile(r"(?<![\w'’])[A-Z][\w'’\-]*(?:\s+[A-Z][\w'’\-]*)+")
#: Code the model writes to illustrate (``LIMIT 10``, ```sql ...```): not a claim.
_CODE_SPAN = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.S)
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])(?:\s+|$)")
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
#: Capitalised for reasons other than being a name (sentence starts are skipped anyway).
_COMMON = frozenset(
    "i i'm i've the a an this that these those it its they you we he she there here yes no "
    "source sources note however also please according".split()
)
_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


@dataclass(frozen=True, slots=True)
class Grounding:
    """The verdict on one answer: facts not found in their passages, and the evidence."""

    unsupported: list[str] = field(default_factory=list)
    evidence: dict[int, str] = field(default_factory=dict)  # source n -> its best sentence
    spans: list[str] = field(default_factory=list)  # "chunk_id:sentence index", in order
    cut: int | None = None  # where the first sentence with an unsupported fact starts

    @property
    def supported(self) -> bool:
        return not self.unsupported


def _number_words() -> dict[str, str]:
    words = {w: str(i) for i, w in enumerate(_UNITS)}
    for t, tens in enumerate(_TENS, start=2):
        words[tens] = str(10 * t)
        for u in range(1, 10):
            words[f"{tens}-{_UNITS[u]}"] = words[f"{tens} {_UNITS[u]}"] = str(10 * t + u)
    return words


_NUMBER_WORDS = _number_words()
_SPELLED = re.compile(r"\b(" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")\b")


def _value(number: str) -> str:
    """``1,000`` and ``1000`` alike; a trailing ``.0`` dropped; decimals kept."""
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", number):
        number = number.replace(",", "")
    number = number.replace(",", ".")
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return number.lstrip("0") or "0"


def numbers(text: str) -> set[str]:
    text = text.translate(_DIGITS)
    found = {_value(n) for n in _NUMBER.findall(text)}
    found.update(_NUMBER_WORDS[w] for w in _SPELLED.findall(text.lower()))
    return found


#: Units a count is given in, English and Arabic (singular, plural, accusative), and the
#: Arabic duals, which are a count of two in one word ("يومين": two days).
_UNIT_WORDS = {
    unit: words.split()
    for unit, words in {
        "day": "day days يوم أيام ايام يوماً يوما",
        "week": "week weeks أسبوع أسابيع اسبوع اسابيع أسبوعاً",
        "month": "month months شهر أشهر اشهر شهور شهراً",
        "year": "year years سنة سنوات سنين عام أعوام اعوام",
        "hour": "hour hours ساعة ساعات",
        "minute": "minute minutes دقيقة دقائق",
    }.items()
}
_UNIT = {w: unit for unit, words in _UNIT_WORDS.items() for w in words}
_DUAL = {
    "يومين": "day", "يومان": "day", "أسبوعين": "week", "أسبوعان": "week", "شهرين": "month",
    "شهران": "month", "سنتين": "year", "سنتان": "year", "عامين": "year", "عامان": "year",
    "ساعتين": "hour", "ساعتان": "hour", "دقيقتين": "minute",
}  # fmt: skip
_UNIT_RE = "|".join(sorted(map(re.escape, _UNIT), key=len, reverse=True))
#: "3 weeks" as an answer states it: digits, then the unit.
_QUANTITY = re.compile(rf"(?<![\w.,/])(\d+(?:[.,]\d+)*)\s*({_UNIT_RE})(?!\w)", re.I)
#: ... and as a passage may put it: a word between ("10 consecutive weeks", "٥ أيام عمل" has
#: it after), or the number in a word ("ten weeks", "ثلاثة أيام"; "*": some number).
_AR_COUNT = r"[وب]?(?:ثلاث|أربع|اربع|خمس|ست|سبع|ثمان|تسع|عشر|إحدى|احدى|اثن|ثنت|واحد)\w*"
_HELD = re.compile(
    rf"(?<![\w.,/])(\d+(?:[.,]\d+)*|{_AR_COUNT})\s+(?:[^\W\d_]+\s+)?({_UNIT_RE})(?!\w)"
)


def quantities(text: str) -> set[tuple[str, str]]:
    """The (number, unit) pairs ``text`` states: ``("3", "week")`` for "3 weeks", "٣ أسابيع"."""
    text = text.translate(_DIGITS)
    return {(_value(n), _UNIT[u.lower()]) for n, u in _QUANTITY.findall(text)}


def held_quantities(text: str) -> set[tuple[str, str]]:
    """The (number, unit) pairs a passage holds, read loosely (see ``_HELD``)."""
    text = _SPELLED.sub(lambda m: _NUMBER_WORDS[m.group(0).lower()], text.translate(_DIGITS))
    held = quantities(text) | {("2", unit) for w, unit in _DUAL.items() if w in text}
    for n, u in _HELD.findall(text):
        held.add((_value(n) if n[0].isdigit() else "*", _UNIT[u.lower()]))
    return held


def facts(sentence: str) -> tuple[set[str], set[str]]:
    """(numbers, words) the sentence asserts: numbers by value (a lone digit is too often an
    enumeration to judge), codes, and the words of names (runs of capitalised words)."""
    text = _LIST_ITEM.sub("", MARKER.sub(" ", sentence)).translate(_DIGITS)
    words = {c.lower() for c in _CODE.findall(text) if not c.isdigit()}
    stripped = text.lstrip(" \"'(“")
    start = len(text) - len(stripped)
    for match in _NAME_RUN.finditer(text):
        run = match.group(0).split()[1:] if match.start() <= start else match.group(0).split()
        for word in run:
            word = re.sub(r"['’]s$", "", word).lower()
            if word not in _COMMON and len(word) > 1:
                words.add(word)
    return {n for n in numbers(text) if len(n) > 1 or not n.isdigit()}, words


def check(answer: str, sources: Sequence[Citation], *, question: str = "") -> Grounding:
    """Which facts of ``answer`` its cited passages do not contain, and its evidence spans.
    A fact the question itself states (a year, a name) is the user's, not the model's."""
    asked_nums, asked_words = numbers(question), question.translate(_DIGITS).lower()
    passages = {s.n: _Passage(s) for s in sources}  # each source read once per answer
    # the counts with their units any passage holds: a right count is often cited to the
    # wrong one of two
    have_units = set().union(*(held_quantities(s.quote) for s in sources))
    have_units |= held_quantities(question)
    unsupported: list[str] = []
    evidence: dict[int, str] = {}
    spans: list[str] = []
    cut: int | None = None
    blank = _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), answer)  # offsets stay answer's
    end = 0  # where the sentences read so far end
    for sentence in split_sentences(blank):
        start = blank.find(sentence, end)
        end = start + len(sentence)
        cited = [int(n) for m in MARKER.findall(sentence) for n in re.split(r"[,;]", m)]
        backing = [passages[n] for n in cited if n in passages] or list(passages.values())
        have_nums = set().union(*(p.numbers for p in backing))
        nums, words = facts(sentence)
        missing = sorted(nums - have_nums - asked_nums)
        missing += [  # "3 weeks" where the passage says "3 days": the count, not its unit
            f"{n} {u}" + ("" if n == "1" else "s")
            for n, u in sorted(quantities(sentence) - have_units)
            if ("*", u) not in have_units and n not in missing  # not twice: "98", "98 days"
        ]
        held = sorted((nums & have_nums) - asked_nums)  # is each said of what was asked?
        missing += map(off_topic_fact, off_topic(sentence, question, *_holding(held, backing)))
        missing += sorted(
            w for w in words if not any(w in p.text for p in backing) and w not in asked_words
        )
        unsupported += [f for f in missing if f not in unsupported]
        if missing and cut is None:
            cut = start
        best = _best_sentence(sentence, backing)
        if best is not None:
            source, index = best
            evidence.setdefault(source.n, source.sentences[index][0])
            span = f"{source.chunk_id}:{index}"
            if span not in spans:
                spans.append(span)
    return Grounding(unsupported, evidence, spans, cut)


class _Passage:
    """One source as the check reads it: numbers, lower-cased text, sentences and words."""

    def __init__(self, source: Citation) -> None:
        self.n, self.chunk_id = source.n, source.chunk_id
        self.numbers = numbers(source.quote)
        self.text = source.quote.translate(_DIGITS).lower()
        self.sentences = [(s, content_words(s)) for s in split_sentences(source.quote)]
        self.label = f"{source.section or ''} {source.document}"  # heading and title
        self.quote = source.quote

    @cached_property
    def sentence_numbers(self) -> list[set[str]]:
        """Each sentence's numbers, read when a figure's sentences are first looked for."""
        return [numbers(s) for s, _ in self.sentences]


def _holding(
    figures: Sequence[str], backing: Sequence[_Passage]
) -> tuple[dict[str, list[str]], list[str]]:
    """For topic.off_topic: each figure's passage sentences, and the passages, each with
    its heading and title."""
    if not figures:
        return {}, []
    read = [
        (f"{s} {p.label}", held)
        for p in backing
        for (s, _), held in zip(p.sentences, p.sentence_numbers, strict=True)
    ]
    holding = {f: [s for s, held in read if f in held] for f in figures}
    return holding, [f"{p.quote} {p.label}" for p in backing]


def _best_sentence(sentence: str, backing: Sequence[_Passage]) -> tuple[_Passage, int] | None:
    """The passage sentence sharing most of ``sentence``'s words: (its passage, its index)."""
    own = content_words(MARKER.sub(" ", sentence))
    if not own:
        return None
    best: tuple[float, _Passage, int] | None = None
    for passage in backing:
        for index, (_, words) in enumerate(passage.sentences):
            share = len(own & words) / len(own)
            if share > 0 and (best is None or share > best[0]):
                best = (share, passage, index)
    return None if best is None else best[1:]


def grounded_lead(answer: str, grounding: Grounding) -> str | None:
    """``answer`` (as ``grounding`` checked it) up to its first sentence with an unsupported
    fact, when what comes before cites a source (a lead that cites nothing is no grounded
    answer); None when the first sentence already fails, or nothing does."""
    if grounding.cut is None:
        return None
    lead = answer[: grounding.cut].strip()
    return lead if lead and MARKER.search(lead) else None
