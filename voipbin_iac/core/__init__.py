"""The pure core: value types, the normal form of field values, resource kinds, the planner,
renderers and secrets. No I/O."""
