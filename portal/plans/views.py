"""The coordinated plan's pages, for the citizen and for caseworkers alike.

Views parse input, call one service in ``portal.services.plans`` and render; the
service decides access. ``PlanNotFound`` becomes 404 whoever asks (a plan of
another citizen, an authority without consent, an id that does not exist), so the
answer reveals nothing.
"""

from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date, format_datetime, to_user_timezone
from flask_babel import gettext as _
from sqlalchemy import select

from portal.auth import current_user, login_required
from portal.db import get_session
from portal.extensions import htmx_fragment, vary_on_htmx
from portal.models import ActionStatus, Authority, Role, User
from portal.numbers import parse_id, parse_int
from portal.plans.chart import progress_chart
from portal.services import plans as svc
from portal.services.deadlines import danish_today

bp = Blueprint("plans", __name__, url_prefix="/plans")


@bp.errorhandler(svc.PlanNotFound)
def _not_found(_exc):
    # The same page and status as any missing page: nothing tells "denied" apart.
    return render_template("error.html", code=404, name="Not Found"), 404


@bp.errorhandler(svc.PlanClosed)
def _closed(exc):
    # A change to an ended plan (an old form, a link kept open): say so on the plan.
    flash(_("This plan has ended. You can read it, but it can no longer be changed."), "error")
    return redirect(url_for("plans.show", plan_id=exc.plan_id), code=303)


@bp.app_template_global("plan_progress_chart")
def _chart(plan, goal):
    # The chart starts on the day the plan was made, in Danish time like every date shown.
    start = to_user_timezone(plan.created_at).date()
    return progress_chart(start, goal.due_on, goal.baseline, goal.target_value, goal.measurements)


@bp.app_template_filter("plan_number")
def _number(value) -> str:
    """37.0 -> "37", 2.5 -> "2,5" in Danish; blank for no value."""
    if value is None:
        return "–"
    text = f"{value:g}"
    return text.replace(".", ",") if _locale() == "da" else text


@bp.app_template_filter("plan_time")
def _time(value) -> str:
    """A stored UTC time in Danish local time, written the page language's way."""
    return format_datetime(value, "short")


@bp.app_template_filter("plan_date")
def _date(value, width: str = "long") -> str:
    """A day in the page's language; a measurement's day is stored as an ISO string."""
    return format_date(date.fromisoformat(value) if isinstance(value, str) else value, width)


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale())


def _version() -> int:
    version = parse_int(request.form.get("version", ""))
    if version is None:
        abort(400)
    return version


def _poll_seconds() -> int:
    return int(current_app.config.get("PLAN_POLL_SECONDS", 5))


# --- list and start -----------------------------------------------------------------


@bp.get("")
@login_required
def index():
    session = get_session()
    rows = svc.plans_for(session, current_user)
    if current_user.role == Role.CITIZEN:
        involved = svc.involved_authorities(session, current_user.id)
        return render_template("plans/index.html", plans=rows, can_start=len(involved) >= 2 and not any(
            p.status == svc.ACTIVE for p in rows))
    names = {u.id: u.name for u in session.scalars(select(User).where(User.id.in_({p.citizen_id for p in rows})))}
    authorities = {a.id: a for a in session.scalars(select(Authority).where(
        Authority.id.in_({p.lead_authority_id for p in rows})))}
    return render_template("plans/index.html", plans=rows, can_start=True, names=names, authorities=authorities,
                           citizens=svc.citizens_with_cases_at(session, current_user.authority_id))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def start():
    session = get_session()
    is_citizen = current_user.role == Role.CITIZEN
    try:
        citizen, involved = svc.start_form(session, current_user, parse_id(request.values.get("citizen_id")))
    except svc.PlanNotFound:
        abort(404)
    lead = svc.default_lead(citizen, involved)
    form = request.form if request.method == "POST" else {}
    errors = {}
    if request.method == "POST":
        try:
            plan = svc.start_plan(
                session, current_user, citizen_id=citizen.id, lead_authority_id=form.get("lead_authority"),
                consent_to=request.form.getlist("consent"), situation=form.get("situation", ""),
                wishes=form.get("wishes", ""), template_slug=form.get("template") or None, locale=_locale(),
                staff_consent_confirmed=bool(form.get("consent_confirmed")),
            )
        except svc.PlanInvalid as exc:
            errors = exc.errors
        else:
            flash(_("The plan has been started."), "success")
            return redirect(url_for("plans.show", plan_id=plan.id), code=303)
    return render_template(
        "plans/start.html", citizen=citizen, involved=involved, lead=lead, form=form, errors=errors,
        templates=svc.load_templates(), is_citizen=is_citizen, error_title=bool(errors),
        consent_checked=request.form.getlist("consent") if request.method == "POST" else [],
    ), (400 if errors else 200)


# --- the plan page and its live part -------------------------------------------------


@bp.get("/<id:plan_id>")
@login_required
def show(plan_id: int):
    view = svc.view_plan(get_session(), current_user, plan_id)
    return render_template("plans/show.html", view=view, poll_seconds=_poll_seconds(), statuses=list(ActionStatus))


@bp.get("/<id:plan_id>/live")
@login_required
def live(plan_id: int):
    """The live part of the plan page. htmx polls it with the last change it has
    seen: nothing changed gives 204 (htmx keeps the page); a change gives the new
    part. Without htmx this is the plan page itself, and so it is for an htmx request
    that is not the poll (a history restore also sends ``HX-Request``)."""
    session = get_session()
    since = parse_int(request.args.get("since")) or 0
    changed = svc.changed_since(session, current_user, plan_id, since)  # refuses like the page
    if not htmx_fragment("plan-live"):
        return vary_on_htmx(redirect(url_for("plans.show", plan_id=plan_id), code=303))
    if not changed:
        return vary_on_htmx(current_app.response_class(status=204))
    view = svc.view_plan(session, current_user, plan_id)
    html = render_template("plans/_live.html", view=view, poll_seconds=_poll_seconds(), from_poll=True)
    return vary_on_htmx(current_app.response_class(html))


@bp.get("/<id:plan_id>/print")
@login_required
def print_view(plan_id: int):
    view = svc.view_plan(get_session(), current_user, plan_id, action="plan.print")
    return render_template("plans/print.html", view=view, printing=True)


@bp.get("/<id:plan_id>/export.json")
@login_required
def export(plan_id: int):
    data = svc.export_plan(get_session(), current_user, plan_id)
    response = jsonify(data)
    response.headers["Content-Disposition"] = f'attachment; filename="plan-{plan_id}.json"'
    return response


# --- consent (the citizen) ------------------------------------------------------------


@bp.route("/<id:plan_id>/consent", methods=["GET", "POST"])
@login_required
def consent(plan_id: int):
    session = get_session()
    errors = {}
    if request.method == "POST":
        give = request.form.get("give") == "1"
        try:
            participant = svc.set_consent(session, current_user, plan_id, request.form.get("authority", ""), give)
        except svc.PlanInvalid as exc:  # an authority not in the plan: the form was changed
            errors = exc.errors
        else:
            authority = session.get(Authority, participant.authority_id)
            name = authority.name(_locale())
            flash(_("You have given %(authority)s access to your plan.", authority=name) if give else
                  _("%(authority)s no longer has access to your plan. Your case there is not affected.",
                    authority=name), "success")
            return redirect(url_for("plans.consent", plan_id=plan_id), code=303)
    view = svc.view_plan(session, current_user, plan_id, action="plan.consent")
    if not view.access.is_citizen:
        abort(404)
    return render_template("plans/consent.html", view=view, errors=errors,
                           error_title=bool(errors)), 422 if errors else 200


@bp.route("/<id:plan_id>/close", methods=["GET", "POST"])
@login_required
def close(plan_id: int):
    """End the plan (the citizen or the lead authority): why, then confirm."""
    session = get_session()
    errors, form = {}, request.form
    if request.method == "POST":
        try:
            svc.close_plan(session, current_user, plan_id, form.get("reason", ""), form.get("note", ""),
                           version=_version())
        except svc.PlanInvalid as exc:
            errors = exc.errors
        except svc.PlanConflict:
            errors = {"reason": _("Someone changed the plan just before you. Try again.")}
        else:
            flash(_("The plan has ended. Everyone on it has been told."), "success")
            return redirect(url_for("plans.show", plan_id=plan_id), code=303)
    view = svc.view_plan(session, current_user, plan_id, action="plan.close_form")
    if not view.access.may_close:
        abort(404)
    return render_template("plans/close_form.html", view=view, form=form, errors=errors,
                           reasons=svc.CLOSE_REASONS, error_title=bool(errors)), (400 if errors else 200)


@bp.post("/<id:plan_id>/coordinator")
@login_required
def coordinator(plan_id: int):
    svc.become_coordinator(get_session(), current_user, plan_id)
    flash(_("You are now your authority's coordinator on this plan."), "success")
    return redirect(url_for("plans.show", plan_id=plan_id), code=303)


# --- the citizen's own words, comments, done ----------------------------------------------


@bp.route("/<id:plan_id>/own-words", methods=["GET", "POST"])
@login_required
def own_words(plan_id: int):
    session = get_session()
    view = svc.view_plan(session, current_user, plan_id, action="plan.own_words")
    if not view.access.is_citizen:
        abort(404)
    form, conflict = request.form, None
    if request.method == "POST":
        try:
            svc.update_own_words(session, current_user, plan_id, situation=form.get("situation", ""),
                                 wishes=form.get("wishes", ""), version=_version())
        except svc.PlanConflict as exc:
            conflict = exc.current
        else:
            flash(_("Your words have been saved."), "success")
            return redirect(url_for("plans.show", plan_id=plan_id), code=303)
    return render_template("plans/own_words.html", view=view, form=form if request.method == "POST" else None,
                           conflict=conflict, error_title=conflict is not None), (409 if conflict else 200)


@bp.post("/<id:plan_id>/comments")
@login_required
def comment(plan_id: int):
    session = get_session()
    try:
        svc.add_comment(session, current_user, plan_id, request.form.get("body", ""),
                        request.form.get("kind", "comment"), parse_id(request.form.get("action_id")))
    except svc.PlanInvalid as exc:
        view = svc.view_plan(session, current_user, plan_id)
        return render_template("plans/show.html", view=view, poll_seconds=_poll_seconds(),
                               comment_errors=exc.errors, comment_form=request.form, error_title=True,
                               statuses=list(ActionStatus)), 400
    kind = request.form.get("kind")
    flash(_("Your proposal has been sent to the authorities on the plan.") if kind == "proposal"
          else _("Your comment has been added."), "success")
    return redirect(url_for("plans.show", plan_id=plan_id, _anchor="comments"), code=303)


@bp.post("/<id:plan_id>/actions/<id:action_id>/done")
@login_required
def action_done(plan_id: int, action_id: int):
    try:
        svc.mark_action_done(get_session(), current_user, plan_id, action_id, version=_version())
    except svc.PlanConflict:
        flash(_("Someone changed this action just before you. Look at it again and try once more."), "error")
    else:
        flash(_("The action is marked as done."), "success")
    return redirect(url_for("plans.show", plan_id=plan_id), code=303)


# --- goals and actions (caseworkers) ----------------------------------------------------


def _staff_view(plan_id: int, action: str):
    view = svc.view_plan(get_session(), current_user, plan_id, action=action)
    if view.access.is_citizen:
        abort(404)
    return view


def _goal_or_404(view, goal_id: int):
    """The plan's goal with ``goal_id``; a goal of another plan is as missing as none."""
    goal = next((g for g in view.plan.goals if g.id == goal_id), None)
    if goal is None:
        abort(404)
    return goal


@bp.route("/<id:plan_id>/goals/new", methods=["GET", "POST"])
@login_required
def new_goal(plan_id: int):
    session = get_session()
    errors, form = {}, request.form
    if request.method == "POST":
        try:
            svc.add_goal(session, current_user, plan_id, form)
        except svc.PlanInvalid as exc:
            errors = exc.errors
        else:
            flash(_("The goal has been added."), "success")
            return redirect(url_for("plans.show", plan_id=plan_id), code=303)
    view = _staff_view(plan_id, "plan.goal_form")
    return render_template("plans/goal_form.html", view=view, form=form, errors=errors,
                           error_title=bool(errors)), (400 if errors else 200)


@bp.route("/<id:plan_id>/goals/<id:goal_id>/edit", methods=["GET", "POST"])
@login_required
def edit_goal(plan_id: int, goal_id: int):
    """Change a goal; like actions, a stale form answers 409 and overwrites nothing."""
    session = get_session()
    errors, form, conflict = {}, request.form, None
    if request.method == "POST":
        try:
            svc.update_goal(session, current_user, plan_id, goal_id, form, version=_version())
        except svc.PlanInvalid as exc:
            errors = exc.errors
        except svc.PlanConflict as exc:
            conflict = exc.current
        else:
            flash(_("The goal has been saved."), "success")
            return redirect(url_for("plans.show", plan_id=plan_id, _anchor=f"goal-{goal_id}"), code=303)
    view = _staff_view(plan_id, "plan.goal_form")
    goal = _goal_or_404(view, goal_id)
    if request.method == "GET" or conflict is not None:
        form = {"title": goal.title, "measure": goal.measure, "baseline": _number(goal.baseline),
                "target_value": _number(goal.target_value), "due_on": goal.due_on.isoformat(),
                "agreed_by": goal.agreed_by}
    status = 409 if conflict is not None else 400 if errors else 200
    return render_template("plans/goal_form.html", view=view, form=form, errors=errors, goal=goal,
                           conflict=conflict, mine=request.form if conflict is not None else None,
                           error_title=bool(errors or conflict)), status


@bp.route("/<id:plan_id>/goals/<id:goal_id>/measurements", methods=["GET", "POST"])
@login_required
def measurement(plan_id: int, goal_id: int):
    session = get_session()
    errors, form, conflict = {}, request.form, False
    if request.method == "POST":
        try:
            svc.record_measurement(session, current_user, plan_id, goal_id, value=form.get("value"),
                                   measured_on=form.get("measured_on"), version=_version())
        except svc.PlanInvalid as exc:
            errors = exc.errors
        except svc.PlanConflict:
            conflict = True
        else:
            flash(_("The measurement has been recorded."), "success")
            return redirect(url_for("plans.show", plan_id=plan_id, _anchor=f"goal-{goal_id}"), code=303)
    view = _staff_view(plan_id, "plan.measurement_form")
    goal = _goal_or_404(view, goal_id)
    status = 409 if conflict else 400 if errors else 200
    return render_template("plans/measurement_form.html", view=view, goal=goal, form=form, errors=errors,
                           conflict=conflict, error_title=bool(errors or conflict), today=danish_today()), status


@bp.route("/<id:plan_id>/goals/<id:goal_id>/actions/new", methods=["GET", "POST"])
@login_required
def new_action(plan_id: int, goal_id: int):
    session = get_session()
    errors, form = {}, request.form
    if request.method == "POST":
        try:
            svc.add_action(session, current_user, plan_id, goal_id, form)
        except svc.PlanInvalid as exc:
            errors = exc.errors
        else:
            flash(_("The action has been added."), "success")
            return redirect(url_for("plans.show", plan_id=plan_id, _anchor=f"goal-{goal_id}"), code=303)
    view = _staff_view(plan_id, "plan.action_form")
    goal = _goal_or_404(view, goal_id)
    return render_template("plans/action_form.html", view=view, goal=goal, action=None, form=form,
                           errors=errors, conflict=None, statuses=list(ActionStatus),
                           error_title=bool(errors)), (400 if errors else 200)


@bp.route("/<id:plan_id>/actions/<id:action_id>/edit", methods=["GET", "POST"])
@login_required
def edit_action(plan_id: int, action_id: int):
    """Edit an action. The form carries the version it was loaded with; a save
    on top of someone else's answers 409 with both versions side by side."""
    session = get_session()
    errors, form, conflict = {}, request.form, None
    if request.method == "POST":
        try:
            svc.update_action(session, current_user, plan_id, action_id, form, version=_version())
        except svc.PlanInvalid as exc:
            errors = exc.errors
        except svc.PlanConflict as exc:
            conflict = exc.current
        else:
            flash(_("The action has been saved."), "success")
            return redirect(url_for("plans.show", plan_id=plan_id, _anchor=f"action-{action_id}"), code=303)
    view = _staff_view(plan_id, "plan.action_form")
    action = next((a for g in view.plan.goals for a in g.actions if a.id == action_id), None)
    if action is None or not view.access.may_edit_action(action):
        abort(404)
    status = 409 if conflict is not None else 400 if errors else 200
    return render_template("plans/action_form.html", view=view, goal=action.goal, action=action,
                           form=form if request.method == "POST" else None, errors=errors, conflict=conflict,
                           statuses=list(ActionStatus), error_title=bool(errors or conflict)), status


@bp.route("/<id:plan_id>/review", methods=["GET", "POST"])
@login_required
def review(plan_id: int):
    session = get_session()
    errors, form = {}, request.form
    if request.method == "POST":
        try:
            review_on = date.fromisoformat(form.get("review_on", "").strip()) if form.get("review_on") else None
        except ValueError:
            review_on = date.min
        try:
            svc.set_review(session, current_user, plan_id, review_on, reviewed=form.get("reviewed") == "1")
        except svc.PlanInvalid as exc:
            errors = exc.errors
        except svc.PlanConflict:
            errors = {"review_on": _("Someone changed the plan just before you. Try again.")}
        else:
            flash(_("The review date has been saved."), "success")
            return redirect(url_for("plans.show", plan_id=plan_id), code=303)
    view = _staff_view(plan_id, "plan.review_form")
    if not view.access.is_lead:
        abort(404)
    return render_template("plans/review_form.html", view=view, form=form, errors=errors,
                           latest=svc.default_review_date(danish_today()),
                           error_title=bool(errors)), (400 if errors else 200)


@bp.post("/<id:plan_id>/lead")
@login_required
def lead(plan_id: int):
    session = get_session()
    try:
        svc.hand_over_lead(session, current_user, plan_id, request.form.get("lead_authority", ""))
    except svc.PlanInvalid as exc:
        view = _staff_view(plan_id, "plan.review_form")
        return render_template("plans/review_form.html", view=view, form={}, errors=exc.errors,
                               latest=svc.default_review_date(danish_today()), error_title=True), 400
    except svc.PlanConflict:
        flash(_("Someone changed the plan just before you. Try again."), "error")
        return redirect(url_for("plans.review", plan_id=plan_id), code=303)
    flash(_("The lead has been handed over."), "success")
    return redirect(url_for("plans.show", plan_id=plan_id), code=303)


@bp.route("/<id:plan_id>/template", methods=["GET", "POST"])
@login_required
def template(plan_id: int):
    session = get_session()
    errors = {}
    if request.method == "POST":
        try:
            svc.apply_template(session, current_user, plan_id, request.form.get("template", ""), _locale())
        except svc.PlanInvalid as exc:
            errors = exc.errors
        else:
            flash(_("The template's goals and actions have been added."), "success")
            return redirect(url_for("plans.show", plan_id=plan_id), code=303)
    view = _staff_view(plan_id, "plan.template_form")
    return render_template("plans/template_form.html", view=view, templates=svc.load_templates(),
                           errors=errors, error_title=bool(errors)), (400 if errors else 200)


@bp.record_once
def _limit_comments(state) -> None:
    # Comments and proposals reach the coordinators by mail: one budget per person
    # with replies on cases (recorded after the routes, so the view exists).
    from portal.citizen.limits import limit_message_views

    limit_message_views(state.app, "plans.comment")
