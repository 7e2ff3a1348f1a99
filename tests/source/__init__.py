"""Tests of the I/O edge that reads desired state (Git, YAML)."""
