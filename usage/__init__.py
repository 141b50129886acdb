"""Money and limits: model prices, budgets, per-user rate limits, and the usage dashboard."""
