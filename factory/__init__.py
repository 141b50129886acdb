"""Factory: the build-time engine.

Owns factory runs and their stages (generate, risk gate, review, remediate, test, approve,
deploy), risk tiers and rules, findings, approvals pinned to a commit SHA, and deployments. A run
turns a PM's spec into a reviewed, tested change: a skill in a domain pack or a FastAPI product.
"""
