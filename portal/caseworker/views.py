"""Caseworker pages under ``/cases``: the inbox (filtered and sorted, updated through
htmx, a full page without JavaScript), the case page, and one POST per action.

Views parse the form, call one service in ``portal.services.cases`` and render; the
services check the authority scope and write the audit rows. A case of another
authority gives the same 404 as a missing one.
"""

from __future__ import annotations

import uuid

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.auth import current_user, roles_required
from portal.db import get_session
from portal.extensions import htmx_fragment, vary_on_htmx
from portal.models import Authority, CaseStatus, EventKind, Role
from portal.numbers import parse_id, parse_int
from portal.services import authority_lookup, cases, citizen_card, filing
from portal.services import inbox as work
from portal.services.cases import CITIZEN_TEXT, STATUS_LABEL

bp = Blueprint("caseworker", __name__, url_prefix="/cases")

staff_only = roles_required(Role.CASEWORKER, Role.TEAM_LEAD)


EVENT_LABEL = {
    EventKind.OPENED: _l("Opened"),
    EventKind.ACCEPTED: _l("Accepted"),
    EventKind.REJECTED: _l("Rejected"),
    EventKind.HANDOVER_SENT: _l("Sent to another authority"),
    EventKind.HANDOVER_ACCEPTED: _l("Taken over by the new authority"),
    EventKind.STATUS_CHANGED: _l("Status changed"),
    EventKind.ASSIGNED: _l("Assigned"),
    EventKind.DEADLINE_SET: _l("Deadlines set"),
    EventKind.DEADLINE_SUSPENDED: _l("Deadlines suspended"),
    EventKind.DEADLINE_EXTENDED: _l("Target extended"),
    EventKind.DEADLINE_WARNING: _l("Target is near"),
    EventKind.DEADLINE_BREACHED: _l("Target passed"),
    EventKind.MESSAGE: _l("Message"),
    EventKind.DECIDED: _l("Decided"),
    EventKind.CLOSED: _l("Closed"),
}


def authority_name(authority_id: str | None) -> str:
    """An authority's name in the page's language (cached for the request)."""
    if not authority_id:
        return ""
    names = g.setdefault("authority_names", {})
    if authority_id not in names:
        row = get_session().get(Authority, authority_id)
        names[authority_id] = row.name(str(get_locale())) if row else authority_id
    return names[authority_id]


@bp.app_context_processor
def _labels():
    return {"status_label": lambda s: STATUS_LABEL.get(CaseStatus(s), s),
            "citizen_status_text": lambda s: CITIZEN_TEXT.get(CaseStatus(s), s),
            "event_label": lambda k: EVENT_LABEL.get(k, k),
            "authority_name": authority_name, "uuid4": lambda: uuid.uuid4().hex,
            "is_overdue": cases.is_overdue}


def _filters() -> cases.InboxFilters:
    args = request.args
    sort = args.get("sort", "target_due")
    page = args.get("page", "1")
    return cases.InboxFilters(
        status=args.get("status", ""), service=args.get("service", "")[:64],
        assignee=args.get("assignee", "")[:12], deadline=args.get("deadline", ""),
        sort=sort if sort in cases.InboxFilters.SORTS else "target_due",
        descending=args.get("dir") == "desc", page=parse_int(page, low=1, high=100_000) or 1,
        q=args.get("q", "")[:100],
    )


@bp.get("/")
@staff_only
def inbox():
    """The authority's cases; the filter form's htmx request gets only the results
    table. Branching on the target, not on ``HX-Request`` alone: htmx's history
    restore (the Back button) sends ``HX-Request`` too, and must get the page."""
    queue = work.work_queue(get_session(), current_user, _filters())
    template = "caseworker/_inbox_results.html" if htmx_fragment("inbox-results") else "caseworker/inbox.html"
    return vary_on_htmx(render_template(template, page=queue.page, queue=queue, statuses=list(CaseStatus),
                                        errors={}))


@bp.post("/assign")
@staff_only
def assign_many():
    """Assign the ticked cases of the inbox to one person at once (no JS needed)."""
    session = get_session()
    value = request.form.get("assignee", "")
    ids = [case_id for case_id in map(parse_id, request.form.getlist("case")) if case_id is not None]
    back = request.form.get("back", "")
    target = url_for(".inbox") + (back if back.startswith("?") else "")
    try:
        assignee = parse_id(value)
        if assignee is None and value != "none":
            raise cases.InvalidChange({"assignee": _("Choose who gets the cases.")})
        changed = work.assign_many(session, current_user, ids, assignee)
    except cases.InvalidChange as exc:
        session.rollback()
        for message in exc.errors.values():
            flash(str(message), "error")
        return redirect(target, code=303)
    flash(ngettext("%(num)d case is assigned.", "%(num)d cases are assigned.", changed), "success")
    return redirect(target, code=303)


@bp.get("/<id:case_id>")
@staff_only
def case_page(case_id: int):
    return _render_case(case_id)


def _render_case(case_id: int, errors: dict | None = None, form: dict | None = None, status: int = 200):
    session = get_session()
    try:
        view = cases.view_case(session, current_user, case_id)
    except cases.CaseNotFound:
        abort(404)
    # Who the citizen is: a view of personal data of its own, audited as such.
    card = citizen_card.citizen_card(session, current_user, case_id)
    # The questions and answers as the citizen read them on "check your answers".
    answers = (filing.readable_answers(session, view.request, str(get_locale()), keep_unknown=True)
               if view.request.answers else [])
    return render_template("caseworker/case.html", view=view, card=card, answers=answers, errors=errors or {},
                           form=form or {}, error_title=bool(errors), timeline=_timeline(view),
                           handover_in=_handover_in(view),
                           authority_groups=_by_level(view.authorities)), status


# The levels the reject list groups authorities by, in this order.
LEVELS = (("state", _l("State authorities")), ("region", _l("Regions")), ("municipality", _l("Municipalities")))


def _by_level(authorities) -> list[tuple[str, list]]:
    """The authorities one may send a case to, grouped by level for an optgroup list."""
    groups = []
    for kind, label in LEVELS:
        members = [a for a in authorities if getattr(a.kind, "value", a.kind) == kind]
        if members:
            groups.append((label, members))
    return groups


def _handover_in(view):
    """The handover that brought the case here, if it came from another authority."""
    arrived = [h for h in view.handovers if h.to_authority_id == view.case.authority_id]
    return arrived[-1] if arrived else None


def _timeline(view) -> list[tuple]:
    """Events, messages and handovers of the case in one list, oldest first:
    ``(at, "event"|"message"|"handover", row)``. Message and handover events are
    left out, as the message and the handover themselves are shown."""
    shown_elsewhere = {EventKind.MESSAGE, EventKind.HANDOVER_SENT}
    items = [(e.at, "event", e) for e in view.events if e.kind not in shown_elsewhere]
    items += [(m.created_at, "message", m) for m in view.messages]
    items += [(h.sent_at, "handover", h) for h in view.handovers]
    return sorted(items, key=lambda item: (item[0], item[1]))


def _act(case_id: int, change, success: str):
    """Run one change; PRG on success, the page with errors (422) when refused."""
    session = get_session()
    version = request.form.get("version", "")
    expected = parse_int(version) if version else None
    if version and expected is None:
        abort(400)
    try:
        change(session, expected)
    except cases.CaseNotFound:
        abort(404)
    except cases.StaleCase:
        session.rollback()
        flash(_("Someone else changed the case while you were looking at it. Check it and try again."), "error")
        return redirect(url_for(".case_page", case_id=case_id), code=303)
    except cases.InvalidChange as exc:
        session.rollback()
        return _render_case(case_id, errors={k: str(v) for k, v in exc.errors.items()}, form=request.form, status=422)
    flash(success, "success")
    target = url_for(".case_page", case_id=case_id)
    if request.endpoint == "caseworker.reject":
        target = url_for(".inbox")
    return redirect(target, code=303)


@bp.post("/<id:case_id>/accept")
@staff_only
def accept(case_id: int):
    return _act(case_id, lambda s, v: cases.accept_case(s, current_user, case_id, expected_version=v),
                _("The case is accepted."))


@bp.post("/<id:case_id>/reject")
@staff_only
def reject(case_id: int):
    form = request.form
    # Without JS the grouped list is used; the type-ahead field gives the name instead.
    to_authority = form.get("to_authority", "") or authority_lookup.by_name(
        get_session(), form.get("to_authority_name", ""))
    return _act(case_id, lambda s, v: cases.reject_case(
        s, current_user, case_id, reason=form.get("reason", ""), to_authority_id=to_authority,
        expected_version=v), _("The case is sent to the other authority."))


@bp.post("/<id:case_id>/status")
@staff_only
def status(case_id: int):
    return _act(case_id, lambda s, v: cases.change_status(
        s, current_user, case_id, to=request.form.get("status", ""), expected_version=v), _("The status is changed."))


@bp.post("/<id:case_id>/assign")
@staff_only
def assign(case_id: int):
    value = request.form.get("assignee", "")
    if value and parse_id(value) is None:
        abort(400)
    return _act(case_id, lambda s, v: cases.assign(
        s, current_user, case_id, assignee_id=parse_id(value), expected_version=v),
        _("The case is assigned."))


@bp.post("/<id:case_id>/deadline")
@staff_only
def deadline(case_id: int):
    form = request.form
    return _act(case_id, lambda s, v: cases.change_deadline(
        s, current_user, case_id, kind=form.get("kind", ""), days=form.get("days", ""),
        reason=form.get("deadline_reason", ""), expected_version=v), _("The deadline is moved."))


@bp.post("/<id:case_id>/message")
@staff_only
def message(case_id: int):
    form = request.form
    return _act(case_id, lambda s, v: cases.send_message(
        s, current_user, case_id, body=form.get("body", ""), idempotency_key=form.get("idempotency_key")),
        _("The message is sent."))
