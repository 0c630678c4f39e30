"""Demo data: deterministic users and tasks for a development stack (`make demo-data`).

- `data`: the scale knobs (`DemoScale`) and the load, then the aggregation of every demo day.

SQL: `sql/demo/`. For development stacks only.
"""
