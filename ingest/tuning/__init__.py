"""Domain adaptation of the embedder (``assistant tune``): questions written by the local
chat model for a sample of chunks (``questions.py``), a fine-tune on them and a pinned,
recorded model (``tune.py``). The index is then re-embedded by ``ingest/reembed.py``.
"""
