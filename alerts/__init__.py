"""The filter (rules, gazetteer, verdicts) and alert delivery (outbox, channels)."""
