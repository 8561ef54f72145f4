"""Pages for instant decisions and "how did it go?" surveys.

Citizens: the decision block of the receipt (htmx polls it until the worker has run
the decision rules), and the three-question survey per decided case. Caseworkers:
confirm or overturn an instant decision from the case page, and the list of instant
decisions flagged for review. The template globals let other areas' pages show these
blocks with one ``include`` line each.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _

from portal.auth import current_user, roles_required
from portal.db import get_session
from portal.extensions import htmx_fragment, vary_on_htmx
from portal.models import Authority, Role
from portal.services import coordination, decisions, surveys
from portal.services.filing import RequestNotFound, own_request
from routing.decisions import Evaluation

bp = Blueprint("feedback", __name__)
STAFF = (Role.CASEWORKER, Role.TEAM_LEAD)


def _locale() -> str:
    return str(get_locale() or "da")


def _min_count() -> int:
    return int(current_app.config.get("STATS_MIN_COUNT", 10))


# --- template globals: one include line on other areas' pages -----------------------------


@bp.app_template_global("instant_decision")
def instant_decision(req):
    """The decision block of a citizen's request (receipt page), or None."""
    return decisions.citizen_decision(get_session(), req)


@bp.app_template_global("decision_check")
def decision_check(case):
    """(check, evaluation) of a case for the caseworker's case page, or None."""
    check = decisions.check_for_case(get_session(), case.id)
    return (check, Evaluation.from_dict(check.evaluation)) if check else None


@bp.app_template_global("feedback_overview")
def feedback_overview():
    """What the citizen's overview shows from this area: offers and open surveys."""
    session = get_session()
    if current_user is None or current_user.role != Role.CITIZEN:
        return None
    offer = coordination.current_offer(session, current_user.id)
    return {
        "offer": offer if offer is not None and offer.status == coordination.OFFERED else None,
        "accepted_offer": offer if offer is not None and offer.status == coordination.ACCEPTED else None,
        "surveys": surveys.open_invitations(session, current_user),
        "can_ask": offer is None,
    }


@bp.app_template_global("coordination_offer_for")
def coordination_offer_for(req):
    """The open coordination offer prompted by ``req`` (receipt page), or None."""
    from sqlalchemy import select

    from portal.models import CoordinationOffer

    return get_session().scalar(select(CoordinationOffer).where(CoordinationOffer.request_id == req.id,
                                                                CoordinationOffer.status == coordination.OFFERED))


@bp.app_template_global("feedback_figures")
def feedback_figures(public: bool = False):
    """Instant-decision shares, satisfaction and coordination figures for the stats pages."""
    session = get_session()
    min_count = _min_count()
    return {
        "instant": decisions.instant_shares(session, min_count=min_count),
        "satisfaction": surveys.figures(session, min_count=min_count, locale=_locale()),
        "coordination": None if public else coordination.figures(session, min_count=min_count),
        "min_count": min_count,
    }


@bp.app_template_global("authority_label")
def authority_label(authority_id: str | None) -> str:
    authority = get_session().get(Authority, authority_id) if authority_id else None
    return authority.name(_locale()) if authority else (authority_id or "")


@bp.app_template_global("service_label")
def service_label(slug: str) -> str:
    from flask import g

    from portal.services.catalogue import load_catalogue_file

    if "feedback_service_names" not in g:
        g.feedback_service_names = {item["slug"]: item.get("name") or {} for item in load_catalogue_file()}
    name = g.feedback_service_names.get(slug) or {}
    return name.get(_locale()) or name.get("da") or slug


# --- citizens: the decision on the receipt -------------------------------------------------


@bp.get("/mine/requests/<id:request_id>/decision")
@roles_required(Role.CITIZEN)
def decision(request_id: int):
    """The decision block alone, for htmx polling; without htmx, the receipt page."""
    try:
        req = own_request(get_session(), current_user, request_id)
    except RequestNotFound:
        abort(404)
    if not htmx_fragment("instant-decision"):
        return vary_on_htmx(redirect(url_for("citizen.receipt", request_id=req.id), code=303))
    return vary_on_htmx(render_template("feedback/_decision.html", req=req, locale=_locale()))


# --- citizens: how did it go? -----------------------------------------------------------------


@bp.route("/mine/cases/<id:case_id>/survey", methods=["GET", "POST"])
@roles_required(Role.CITIZEN)
def survey(case_id: int):
    session = get_session()
    try:
        invitation, case = surveys.invitation_for(session, current_user, case_id)
    except surveys.SurveyNotFound:
        abort(404)
    errors, form = {}, request.form if request.method == "POST" else {}
    if request.method == "POST" and invitation.answered_at is None:
        try:
            surveys.answer(session, current_user, case_id, request.form)
        except surveys.SurveyInvalid as exc:
            errors = exc.errors
        else:
            flash(_("Thank you for your answers."), "success")
            return redirect(url_for("citizen.overview"), code=303)
    return render_template("feedback/survey.html", invitation=invitation, case=case, errors=errors, form=form,
                           error_title=bool(errors)), (400 if errors else 200)


@bp.post("/mine/cases/<id:case_id>/survey/decline")
@roles_required(Role.CITIZEN)
def decline_survey(case_id: int):
    try:
        surveys.decline(get_session(), current_user, case_id)
    except surveys.SurveyNotFound:
        abort(404)
    flash(_("We will not ask you about this case again."), "success")
    return redirect(url_for("citizen.overview"), code=303)


# --- caseworkers: review of instant decisions ------------------------------------------------


@bp.post("/cases/<id:case_id>/decision/confirm")
@roles_required(*STAFF)
def confirm(case_id: int):
    try:
        decisions.confirm(get_session(), current_user, case_id)
    except decisions.DecisionNotFound:
        abort(404)
    except decisions.InvalidReview as exc:
        return _case_page(case_id, exc.errors)
    flash(_("The instant decision is confirmed."), "success")
    return redirect(url_for("caseworker.case_page", case_id=case_id), code=303)


@bp.post("/cases/<id:case_id>/decision/overturn")
@roles_required(*STAFF)
def overturn(case_id: int):
    try:
        decisions.overturn(get_session(), current_user, case_id, to=request.form.get("overturn_to", ""),
                           reason=request.form.get("overturn_reason", ""))
    except decisions.DecisionNotFound:
        abort(404)
    except decisions.InvalidReview as exc:
        return _case_page(case_id, exc.errors)
    flash(_("The decision has been changed and the citizen has been told."), "success")
    return redirect(url_for("caseworker.case_page", case_id=case_id), code=303)


def _case_page(case_id: int, errors: dict):
    from portal.caseworker.views import _render_case

    return _render_case(case_id, errors=errors, form=request.form.to_dict(), status=400)


@bp.get("/cases/instant-decisions")
@roles_required(*STAFF)
def review_list():
    rows = decisions.awaiting_review(get_session(), current_user)
    return render_template("feedback/review_list.html", rows=rows)


@bp.app_template_global("outcome_label")
def outcome_label(outcome: str | None) -> str:
    return {"granted": _("granted"), "refused": _("refused"), "undecided": _("not decided")}.get(outcome or "", "")
