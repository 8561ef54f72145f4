"""``/mine/privacy``: who has seen my data; ``/mine/privacy/data`` (readable) and
``/mine/privacy/data.json`` (machine-readable) export of everything we hold."""

from __future__ import annotations

import json
from datetime import date, datetime

from flask import Blueprint, Response, current_app, render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.auth import current_user, roles_required
from portal.db import get_session
from portal.models import Authority, Role
from portal.services import privacy

bp = Blueprint("privacy", __name__, url_prefix="/mine/privacy")

citizen_only = roles_required(Role.CITIZEN)

ACCESS_LABEL = {
    "case.view": _l("Opened your case"),
    "citizen.view": _l("Saw who you are: name, date of birth, municipality and contact details"),
    "case.list": _l("Listed cases"),
    "case.accept": _l("Took your case"),
    "handover.send": _l("Sent your case to another authority"),
    "handover.accept": _l("Took over your case"),
    "case.status": _l("Changed the status"),
    "case.assign": _l("Assigned a caseworker"),
    "case.message": _l("Wrote to you"),
    "attachment.download": _l("Downloaded an attachment"),
    "routing.decided": _l("Routed your request"),
    "request.view_unroutable": _l("Looked at your request to send it to the right authority"),
    "routing.by_hand": _l("Sent your request to the right authority by hand"),
    "plan.start_form": _l("Looked at which authorities handle your cases, to start a plan"),
    "plan.start": _l("Started a plan with you"),
    "plan.view": _l("Opened your plan"),
    "plan.list": _l("Listed plans"),
    "plan.print": _l("Printed your plan"),
    "plan.export": _l("Downloaded your plan as data"),
    "plan.close": _l("Ended your plan"),
    "case.decide": _l("Decided your case"),
    "decision.confirm": _l("Checked an automatic decision and confirmed it"),
    "decision.overturn": _l("Checked an automatic decision and changed it"),
}


def access_label(action: str):
    """What a staff action in the audit log means, said to the citizen. Plan pages
    that show a form only read the plan; any other plan action changed it."""
    if action in ACCESS_LABEL:
        return ACCESS_LABEL[action]
    if action.startswith("plan."):
        return _l("Opened your plan") if action.endswith("_form") else _l("Changed your plan")
    return _l("Worked on your case")


@bp.app_context_processor
def _labels():
    return {"access_label": access_label}


@bp.get("/")
@citizen_only
def access():
    # The service gives the export's ISO strings; the page shows Danish local time.
    log = with_times(privacy.access_log(get_session(), current_user))
    config = current_app.config
    return render_template("privacy/access.html", log=log, kept_years=config["AUDIT_RETENTION_DAYS"] // 365,
                           data_days=config["RETENTION_DAYS"], draft_days=config["DRAFT_RETENTION_DAYS"])


@bp.get("/data")
@citizen_only
def data():
    session = get_session()
    exported = privacy.export_data(session, current_user)
    authorities = {a.id: a for a in session.scalars(select(Authority))}
    return render_template("privacy/data.html", data=with_times(exported), authorities=authorities,
                           answers=_readable_answers(session))


# Keys of the export whose ISO dates are days, not moments (moments are "at" and "*_at").
DATE_KEYS = {"birth_date", "expected_by", "legal_limit", "review_on", "due_on"}
# What people or rules wrote, kept as written even where a key looks like a date.
VERBATIM_KEYS = {"answers", "data", "routing", "summary", "rules", "what"}


def with_times(value, key: str | None = None):
    """The export (as ``privacy.export_data`` writes it for JSON) with its ISO strings
    read back as aware datetimes and dates, so the page shows them in Danish local
    time in the reader's language."""
    if isinstance(value, dict):
        return {k: v if k in VERBATIM_KEYS else with_times(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [with_times(item) for item in value]
    if isinstance(value, str) and key is not None:
        try:
            if key == "at" or key.endswith("_at"):
                return datetime.fromisoformat(value)
            if key in DATE_KEYS:
                return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _readable_answers(session) -> dict[datetime, list[tuple[str, str]]]:
    """Each request's answers as question and answer texts (the JSON keeps the ids),
    keyed by the request's ``created_at`` (drafts have no reference)."""
    from flask_babel import get_locale

    from portal.models import Request
    from portal.services.filing import given_answers

    locale = str(get_locale())
    requests = session.scalars(select(Request).where(Request.citizen_id == current_user.id))
    return {r.created_at: given_answers(session, r, locale) for r in requests if r.answers}


@bp.get("/data.json")
@citizen_only
def data_json():
    exported = privacy.export_data(get_session(), current_user)
    return Response(json.dumps(exported, ensure_ascii=False, indent=2), mimetype="application/json",
                    headers={"Content-Disposition": 'attachment; filename="indgang-my-data.json"'})
