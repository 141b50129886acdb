"""FinCrime: the analysts' alert queue (transaction monitoring, sanctions screening, customer risk),
investigations with cited evidence, sanctions matches, and four-eyes dispositions."""
