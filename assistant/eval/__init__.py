"""Evaluation: datasets (HaluEval QA, ...), retrieval and answer metrics, the harness."""
