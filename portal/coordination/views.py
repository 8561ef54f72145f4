"""The citizen's coordinated assessment: the offer, consent, joint meeting, the plan."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from portal.auth import current_user, roles_required
from portal.db import get_session
from portal.models import Role
from portal.services import coordination

bp = Blueprint("coordination", __name__, url_prefix="/mine/coordination")


def _locale() -> str:
    return str(get_locale() or "da")


def _view(offer_id: int):
    try:
        return coordination.view_offer(get_session(), current_user, offer_id)
    except coordination.OfferNotFound:
        abort(404)


def _page(view, errors=None, form=None, status=200):
    form = form if form is not None else {}
    # Consent is the citizen's own act: nothing is ticked when the offer first shows.
    consent_checked = request.form.getlist("consent") if request.method == "POST" else []
    return render_template("coordination/offer.html", view=view, errors=errors or {}, form=form,
                           consent_checked=consent_checked, locale=_locale(),
                           error_title=bool(errors)), status


@bp.get("/<id:offer_id>")
@roles_required(Role.CITIZEN)
def offer(offer_id: int):
    return _page(_view(offer_id))


@bp.post("/<id:offer_id>/accept")
@roles_required(Role.CITIZEN)
def accept(offer_id: int):
    view = _view(offer_id)
    try:
        offer = coordination.accept(
            get_session(), current_user, offer_id, consent_to=request.form.getlist("consent"),
            meeting=bool(request.form.get("meeting")), situation=request.form.get("situation", ""),
            wishes=request.form.get("wishes", ""), locale=_locale())
    except coordination.OfferInvalid as exc:
        return _page(_view(offer_id) if view else view, exc.errors, request.form, 400)
    if offer.plan_id:
        flash(_("Your coordinated assessment has started. Here is the proposed plan."), "success")
        return redirect(url_for("plans.show", plan_id=offer.plan_id), code=303)
    flash(_("Your coordinated assessment has started. The lead authority will contact you."), "success")
    return redirect(url_for("coordination.offer", offer_id=offer_id), code=303)


@bp.post("/<id:offer_id>/decline")
@roles_required(Role.CITIZEN)
def decline(offer_id: int):
    _view(offer_id)
    try:
        coordination.decline(get_session(), current_user, offer_id)
    except coordination.OfferInvalid as exc:
        return _page(_view(offer_id), exc.errors, status=400)
    flash(_("You have said no thanks. You can ask for a coordinated assessment later from your overview."), "success")
    return redirect(url_for("citizen.overview"), code=303)


@bp.post("/<id:offer_id>/meeting")
@roles_required(Role.CITIZEN)
def meeting(offer_id: int):
    _view(offer_id)
    try:
        coordination.request_meeting(get_session(), current_user, offer_id, locale=_locale())
    except coordination.OfferInvalid as exc:
        return _page(_view(offer_id), exc.errors, status=400)
    flash(_("You have asked for a joint meeting. The lead authority will contact you."), "success")
    return redirect(url_for("coordination.offer", offer_id=offer_id), code=303)


@bp.post("/ask")
@roles_required(Role.CITIZEN)
def ask():
    offer = coordination.ask(get_session(), current_user)
    return redirect(url_for("coordination.offer", offer_id=offer.id), code=303)


@bp.record_once
def _limit_asking(state) -> None:
    # Asking for an assessment or a joint meeting lands with the lead authority: the
    # same budget as messages.
    from portal.citizen.limits import limit_message_views

    limit_message_views(state.app, "coordination.ask", "coordination.meeting")
