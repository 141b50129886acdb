"""Domain packs: one folder per operations domain.

Each pack holds `aspora.config.yaml` (the domain and its skills' settings), `skills/**/SKILL.md`,
the domain's tools (`tools.py`), its data models, selectors, services and demo data. Tools reach
data only through the pack's selectors, scoped by the asker's injected context.
"""
