"""Use cases: one function per use case, shared by views, jobs and the CLI.

Services are the only place that commits; the audit row and the outbox row of a
change are written in the same transaction as the change.
"""
