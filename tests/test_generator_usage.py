"""The llama.cpp generator reports the prompt's token count and how much of it the KV
cache already held (the stable system prompt is evaluated once)."""

from __future__ import annotations

import pytest

from assistant.answering.prompt import build_messages
from assistant.models.catalog import get_spec
from assistant.models.llama import LlamaGenerator
from tests.conftest import IN_PROCESS_MODE, TEST_MODEL, tiny_weights

pytestmark = pytest.mark.slow


def test_prompt_tokens_and_reused_prefix_are_reported() -> None:
    spec = get_spec(TEST_MODEL)
    gen = LlamaGenerator(
        tiny_weights(),
        name=TEST_MODEL,
        sha256=spec.files[0].sha256,
        flash_attn=True,
        cpu_mode=IN_PROCESS_MODE,
    )
    first = "".join(gen.stream(build_messages("How long is annual leave?", []), max_tokens=2))
    assert first
    assert gen.last_prompt is not None
    total, reused = gen.last_prompt
    assert 50 < total < 1000 and reused == 0  # a fresh context evaluates everything
    "".join(gen.stream(build_messages("Who approves travel?", []), max_tokens=2))
    assert gen.last_prompt is not None
    total2, reused2 = gen.last_prompt
    assert 50 < reused2 < total2 < 1000  # the system prompt came from the cache
