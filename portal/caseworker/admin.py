"""Administrators' pages: jobs that failed after their retries (with a retry button),
and requests no rule could route (with a way to route each by hand)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from portal.auth import current_user, roles_required
from portal.db import get_session
from portal.models import Role
from portal.redis_conn import get_redis
from portal.services import audit, cases

bp = Blueprint("jobs_admin", __name__, url_prefix="/admin")

QUEUES = ("high", "default", "low")
admin_only = roles_required(Role.ADMINISTRATOR)


@bp.get("/jobs/failed")
@admin_only
def failed_jobs():
    """Every job in rq's failed registries, newest first."""
    redis = get_redis()
    rows = []
    for name in QUEUES:
        registry = FailedJobRegistry(name, connection=redis)
        for job in Job.fetch_many(registry.get_job_ids(), connection=redis):
            if job is not None:
                rows.append({"id": job.id, "queue": name, "func": job.func_name, "ended_at": job.ended_at,
                             "error": (job.latest_result().exc_string if job.latest_result() else "")[-400:]})
    rows.sort(key=lambda r: r["ended_at"] or 0, reverse=True)
    session = get_session()
    audit.record(session, actor=current_user, action="jobs.list_failed", details={"shown": len(rows)})
    session.commit()
    return render_template("caseworker/failed_jobs.html", rows=rows)


@bp.post("/jobs/failed/<job_id>/retry")
@admin_only
def retry_job(job_id: str):
    redis = get_redis()
    try:
        job = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        abort(404)
    queue = job.origin if job.origin in QUEUES else "default"
    FailedJobRegistry(queue, connection=redis).requeue(job_id)
    session = get_session()
    audit.record(session, actor=current_user, action="jobs.retry", details={"job_id": job_id})
    session.commit()
    flash(_("The job is queued again."), "success")
    return redirect(url_for(".failed_jobs"), code=303)


@bp.get("/requests/unroutable")
@admin_only
def unroutable():
    rows = cases.unroutable_requests(get_session(), current_user)
    return render_template("caseworker/unroutable.html", rows=rows)


@bp.route("/requests/<id:request_id>/route", methods=["GET", "POST"])
@admin_only
def route_by_hand(request_id: int):
    """Route one unroutable request by hand: the authority that decides it, and why."""
    session = get_session()
    errors, form = {}, request.form
    try:
        if request.method == "POST":
            try:
                opened = cases.route_by_hand(session, current_user, request_id,
                                             authority_id=form.get("authority", ""), reason=form.get("reason", ""))
            except cases.InvalidChange as exc:
                session.rollback()
                errors = exc.errors
            else:
                flash(_("The request is routed. Case %(reference)s is open at %(authority)s.",
                        reference=opened[0].reference, authority=opened[0].authority.name(str(get_locale()))),
                      "success")
                return redirect(url_for(".unroutable"), code=303)
        view = cases.unroutable_request(session, current_user, request_id)
    except cases.AlreadyRouted:  # someone else was quicker, before the form or while it was filled in
        session.rollback()
        flash(_("Someone routed the request just before you."), "info")
        return redirect(url_for(".unroutable"), code=303)
    except LookupError:
        abort(404)
    return render_template("caseworker/route_by_hand.html", view=view, form=form, errors=errors,
                           error_title=bool(errors)), (422 if errors else 200)


__all__ = ["bp", "Queue"]
