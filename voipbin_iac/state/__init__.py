"""What lives on disk between runs: the manifest, the apply log, locks, saved plans, atomic
files."""
