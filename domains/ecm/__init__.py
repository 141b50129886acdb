"""ECM, exception case management: field agents' tickets for stuck transfers, shipments and
payment failures, and their escalations to managers."""
