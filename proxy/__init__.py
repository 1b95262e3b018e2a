"""Kaixu Gateway: an LLM API gateway with virtual keys, limits and exact billing."""
