"""The JSON API for authorities' own systems, under /api/v1 (blueprint in ``views``)."""
