"""Readers, source configs and the canonical record."""
