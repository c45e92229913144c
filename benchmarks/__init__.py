"""Benchmarks of voipbin-iac against its embedded emulator: `python -m benchmarks [--quick]`.

Each module measures one thing and returns `common.Figure`s, each next to a baseline measured
(or, where labelled, extrapolated) in the same run; `__main__` runs them all and prints one
Markdown table. Benchmarks measure and print; they assert nothing about wall time (the request
counts they rely on are pinned by `tests/test_request_counts.py`).

Modules: `requests_per_plan`, `plan_cpu`, `plan_e2e`, `apply_throughput`, `scaling`, sharing
`common` (generated fleets, seeded emulator state, timing, the table).
"""
