"""Fixtures shared by the factory tests."""
