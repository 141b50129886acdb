"""Fraud Guardian: fraud rules over transaction features, their simulation against labelled history,
and explanations of false positives, for the fraud risk team."""
