"""Reproductions of published findings: ``weightspace reproduce NAME [--quick]``."""

from weightspace.reproduce.registry import REGISTRY, Reproduction, Result, Row, get, register

__all__ = ["REGISTRY", "Reproduction", "Result", "Row", "get", "register"]
