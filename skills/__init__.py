"""Skills: the run-time engine.

Owns domains, skills and their immutable versions, the registry that keeps packs on disk and the
database in step (with hot reload), the router that picks a skill for free text, the executor that
runs a skill as a pydantic-ai agent with the asker's context injected, and skill runs with their
stored, streamed events.
"""
