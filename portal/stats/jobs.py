"""Worker jobs of the statistics (declared like those in ``portal.jobs``)."""

from __future__ import annotations

from portal.jobs import job
from portal.services import stats


@job(queue="low", timeout=3600)
def refresh_statistics(session, *, full: bool = False) -> dict:
    """Fold new case events into the statistics tables (idempotent: rows are replaced)."""
    result = stats.refresh(session, full=full)
    return {"requests": result.requests, "days": result.days, "seconds": round(result.seconds, 3)}
