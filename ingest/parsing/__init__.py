"""Parsing plumbing: file-type detection, unstructured in child processes, parse-ahead.

``parse.py`` reads one file into elements (in the child); ``isolate.py`` runs it in a
child process with time and memory limits; ``pool.py`` keeps a few of those and splits
large PDFs into page windows (``pdf_windows.py``); ``ahead.py`` starts the next files'
parses while the current one is embedded and committed.
"""
