"""Notes of the ``load`` area: measurements behind its choices, made once, not re-run."""

#: Why the batching run decodes 4 answers together and not more (measured, not re-run).
PARALLEL_NOTE = (
    "8 at once instead of 4 (AVX-512 EPYC, 2026-12-06, the same three 100-user runs): median "
    "wait to first token 13.1 s with 84 questions answered in the minute, against 18.3 s one "
    "at a time (same run) and 10.9 s / 105 with 4 at once (the run above). smollm2-135m's "
    "aggregate decode grows only 1.16x from 4 to 8 sequences (178 -> 207 tok/s), and each "
    "answer decodes at half the rate, so slots free more slowly."
)

#: Why the last run gives each of two workers one thread (measured, not re-run).
THREADS_NOTE = (
    "Why two one-thread workers (AVX-512 EPYC, 2026-12-06; 48 questions asked at once of the "
    "answering service in one process, no HTTP, the 135M model, 4 answers at once per worker): "
    "with ~0.6 of a core taken by two busy loops, as the web server and the load generator "
    "take 0.5-0.7 of one in the 100-user runs, one worker of 2 threads answered 0.97 a "
    "second for 75 CPU-seconds of its own, two of one thread each 1.39 for 50; unloaded, "
    "1.28-1.67 against 1.88. A 2-thread llama.cpp step spins at every barrier while the "
    "other thread is pre-empted; one thread never waits. 8 at once per worker instead of 4: "
    "1.30 against 1.25 a second, loaded."
)

#: What serving the 135M model from Q8_0 changed (measured, not re-run).
REQUANT_NOTE = (
    "The 135M model is served from a Q8_0 re-quantisation of its packaged Q4_1 file "
    "(assistant/models/requant.py; AVX-512 EPYC, 2026-12-06, medians): 300 prompt tokens "
    "read in 0.38 s against 0.85 s with 2 threads; one answer decodes at 119 against 113 tok/s; "
    "4 together at 170 against 194 tok/s with 2 threads and 99 against 109 with one (Q8_0's "
    "2-token steps are slow: 65 against 99 tok/s for one token). The same 48 questions at "
    "once, one worker of 2 threads, unloaded: 1.28 / 1.50 / 1.67 answers a second against "
    "1.02 / 1.09 / 1.27 / 1.18 with Q4_1. One worker decoding 4 at once under the 100 users: "
    "median wait 11.1 / 13.7 / 11.2 / 13.0 s against 10.7 / 14.0 s with Q4_1 -- that run's "
    "spread is wider than the file's effect. Perplexity on 2,000 tokens of git's manuals "
    "18.98 against 18.86 (Q4_0: 23.3, not used)."
)
