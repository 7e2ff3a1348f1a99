"""Render tests share the verify tests' Envoy."""

from verify.conftest import envoy_binary

__all__ = ["envoy_binary"]
