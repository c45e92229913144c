"""Reading desired-state files: YAML with locations, env substitution, schema and platform
checks."""
