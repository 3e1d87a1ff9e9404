"""pytest plugin, ``pytest -p tests.deny_amx``: refuse Intel AMX to the test process.

Loaded before any conftest or test module, it installs the seccomp filter of the
model worker's ``no-amx`` mode (assistant/models/amx.py) before anything can ask the
kernel for AMX. The tests that need llama.cpp's repacked layout in the test process
itself then run on an AMX CPU too, in the mode the worker runs there: tests/conftest.py
reads ``IN_PROCESS_MODE`` as ``no-amx``. The filter cannot be lifted, so only a child
pytest run loads this (tests/test_split_prefill.py).
"""

from __future__ import annotations

from assistant.models.amx import deny_amx

deny_amx()
