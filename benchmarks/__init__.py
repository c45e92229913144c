"""Benchmarks of voipbin-iac against its embedded emulator: `python -m benchmarks [--quick]`.

Each module measures one thing and returns `report.Figure`s, each next to a bound or a baseline
measured (or, where labelled, computed) in the same run; `__main__` runs them all and prints one
Markdown table. Benchmarks measure and print; they assert nothing about wall time (the behaviour
they rely on is pinned by tests that never sleep).

Modules: `startup`, `requests_per_plan`, `local_files`, `plan_e2e`, `scaling`,
`apply_throughput`, sharing `common` (generated fleets, seeded emulator state, the timed
loopback emulator, timers) and `report` (figures, the table, the machine line).
"""
