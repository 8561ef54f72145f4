"""Administrator pages for routing rule sets: list, draft, validate, simulate, publish.

Validation and simulation are GET forms (they change nothing); htmx swaps their result
into the page, and without JavaScript the same URL renders the full page.
"""

from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from portal.auth import current_user, roles_required
from portal.db import get_session
from portal.extensions import htmx_fragment, vary_on_htmx
from portal.models import Role
from portal.services import rule_sets as service
from portal.services.deadlines import danish_today
from portal.services.routing import default_rule_set, default_source

bp = Blueprint("admin", __name__, url_prefix="/admin")

admin_only = roles_required(Role.ADMINISTRATOR)
NOTE_MAX = 500


@bp.get("/rules")
@admin_only
def rule_sets():
    session = get_session()
    rows = service.list_rule_sets(session)
    default = default_rule_set()
    return render_template("admin/rule_sets.html", rows=rows, default=default)


@bp.get("/rules/default")
@admin_only
def default_rules():
    """The shipped default rule set, read-only."""
    loaded = default_rule_set()
    return render_template(
        "admin/rule_set.html",
        row=None,
        default=loaded,
        source=default_source()[0],
        today=danish_today(),
    )


@bp.route("/rules/new", methods=["GET", "POST"])
@admin_only
def new_rule_set():
    session = get_session()
    if request.method == "GET":
        return render_template(
            "admin/rule_set_form.html",
            row=None,
            text=service.new_draft_text(session),
            note="",
            errors=[],
        )
    text, note = _form_values()
    errors = _form_errors(text, note)
    if not errors:
        try:
            row = service.create_draft(session, actor=current_user, text=text, note=note)
        except service.RuleSetInvalid as exc:
            session.rollback()
            errors = _problem_errors(exc)
        else:
            flash(_("Draft version %(version)s saved.", version=row.version), "success")
            return redirect(url_for("admin.rule_set", row_id=row.id), code=303)
    return _form_with_errors(None, text, note, errors)


@bp.route("/rules/<id:row_id>/edit", methods=["GET", "POST"])
@admin_only
def edit_rule_set(row_id: int):
    session = get_session()
    row = _row_or_404(row_id)
    if row.status.value != "draft":
        flash(_("A published rule set is never edited. Create a new draft instead."), "error")
        return redirect(url_for("admin.rule_set", row_id=row.id), code=303)
    if request.method == "GET":
        return render_template(
            "admin/rule_set_form.html", row=row, text=row.source, note=row.note or "", errors=[]
        )
    text, note = _form_values()
    errors = _form_errors(text, note)
    if not errors:
        try:
            service.update_draft(session, row, actor=current_user, text=text, note=note)
        except service.RuleSetInvalid as exc:
            session.rollback()
            errors = _problem_errors(exc)
        else:
            flash(_("Draft version %(version)s saved.", version=row.version), "success")
            return redirect(url_for("admin.rule_set", row_id=row.id), code=303)
    return _form_with_errors(row, text, note, errors)


@bp.get("/rules/<id:row_id>")
@admin_only
def rule_set(row_id: int):
    row = _row_or_404(row_id)
    return render_template(
        "admin/rule_set.html", row=row, default=None, source=row.source, today=danish_today()
    )


@bp.get("/rules/<id:row_id>/check")
@admin_only
def check_rule_set(row_id: int):
    row = _row_or_404(row_id)
    day, errors = _date_arg("on", _("Check date"), required=False)
    reports = service.validate(row, day) if not errors else []
    return _result(
        row, "admin/_check.html", errors=errors, reports=reports, on=request.args.get("on", "")
    )


@bp.get("/rules/<id:row_id>/simulate")
@admin_only
def simulate_rule_set(row_id: int):
    row = _row_or_404(row_id)
    since, errors = _date_arg("since", _("Replay requests filed since"), required=True)
    simulation = service.simulate_rule_set(get_session(), row, since) if not errors else None
    return _result(
        row,
        "admin/_simulation.html",
        errors=errors,
        simulation=simulation,
        since=request.args.get("since", ""),
    )


@bp.post("/rules/<id:row_id>/publish")
@admin_only
def publish_rule_set(row_id: int):
    session = get_session()
    row = _row_or_404(row_id)
    try:
        service.publish(session, row, actor=current_user)
    except service.RuleSetLocked:
        flash(_("Only a draft can be published."), "error")
        return redirect(url_for("admin.rule_set", row_id=row.id), code=303)
    except service.PublishRefused as exc:
        response = make_response(
            render_template(
                "admin/rule_set.html",
                row=row,
                default=None,
                source=row.source,
                today=danish_today(),
                refused=exc.reports,
                error_title=True,
            ),
            409,
        )
        return response
    flash(_("Version %(version)s is published.", version=row.version), "success")
    return redirect(url_for("admin.rule_set", row_id=row.id), code=303)


# --- helpers ------------------------------------------------------------------------------


def _row_or_404(row_id: int):
    row = service.get_rule_set(get_session(), row_id)
    if row is None:
        abort(404)
    return row


def _form_values() -> tuple[str, str]:
    text = (request.form.get("source") or "").replace("\r\n", "\n")
    return text, (request.form.get("note") or "").strip()


def _form_errors(text: str, note: str) -> list[dict]:
    errors = []
    if not text.strip():
        errors.append({"field": "source", "message": _("Enter the rule set.")})
    if len(note) > NOTE_MAX:
        errors.append(
            {
                "field": "note",
                "message": _("The note must be at most %(n)s characters.", n=NOTE_MAX),
            }
        )
    return errors


def _problem_errors(exc: service.RuleSetInvalid) -> list[dict]:
    out = []
    for line, rule_id, message in exc.problems:
        if line and rule_id:
            text = _(
                "Line %(line)s, rule %(rule)s: %(message)s",
                line=line,
                rule=rule_id,
                message=message,
            )
        elif line:
            text = _("Line %(line)s: %(message)s", line=line, message=message)
        else:
            text = message
        out.append({"field": "source", "message": text})
    return out


def _form_with_errors(row, text: str, note: str, errors: list[dict]):
    html = render_template(
        "admin/rule_set_form.html", row=row, text=text, note=note, errors=errors, error_title=True
    )
    return make_response(html, 422)


def _date_arg(name: str, label: str, *, required: bool) -> tuple[date | None, list[dict]]:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        if required:
            return None, [{"field": name, "message": _("Enter a date for: %(label)s", label=label)}]
        return None, []
    try:
        return date.fromisoformat(raw), []
    except ValueError:
        return None, [
            {"field": name, "message": _("%(label)s must be a date like 2027-01-01", label=label)}
        ]


def _result(row, partial: str, **context):
    """The result alone for htmx, inside the full rule-set page otherwise (and for a
    history restore, which sends ``HX-Request`` but targets no result)."""
    fragment = htmx_fragment("result")
    if fragment:
        response = make_response(render_template(partial, row=row, partial_only=True, **context))
    else:
        response = make_response(
            render_template(
                "admin/rule_set.html",
                row=row,
                default=None,
                source=row.source,
                today=danish_today(),
                result=partial,
                error_title=bool(context.get("errors")),
                **context,
            )
        )
    if context.get("errors") and not fragment:
        response.status_code = 422  # htmx swaps only 2xx answers: keep 200 for it
    return vary_on_htmx(response)
