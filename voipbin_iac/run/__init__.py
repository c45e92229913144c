"""Use cases over the API: plan, apply (executor, recovery, verification), export, import,
rotate, call."""
