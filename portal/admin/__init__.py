"""Administration: routing rule sets (list, draft, validate, simulate, publish)."""
