"""Functional model builders and their inference helpers."""
