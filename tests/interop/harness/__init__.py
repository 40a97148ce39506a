"""Scenario runner internals: processes (procs), nodes (nodes) and the scenarios themselves."""
