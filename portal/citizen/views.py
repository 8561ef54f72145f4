"""The citizen's side: the service catalogue, filing step by step, the receipt, the
overview of every request and case, case pages with replies, attachment downloads.

Views parse input, call one service, render. Every page is a full page; the receipt
and the overview also answer htmx polls with their partial (``Vary: HX-Request``).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _

from portal.auth import current_user, login_required, roles_required
from portal.db import get_session
from portal.extensions import htmx_fragment, vary_on_htmx
from portal.models import RequestStatus, Role, User
from portal.services import attachments as attachment_service
from portal.services import catalogue as catalogue_service
from portal.services import filing
from portal.services import overview as overview_service

bp = Blueprint("citizen", __name__)


def _locale() -> str:
    return str(get_locale())


def _upload_dir() -> Path:
    return attachment_service.upload_dir(current_app.instance_path)


def _limits() -> attachment_service.UploadLimits:
    return attachment_service.UploadLimits(
        max_bytes=current_app.config["UPLOAD_MAX_BYTES"], max_files=current_app.config.get("UPLOAD_MAX_FILES", 10)
    )


def _own_request(request_id: int):
    try:
        return filing.own_request(get_session(), current_user, request_id)
    except filing.RequestNotFound:
        abort(404)


# --- the catalogue ----------------------------------------------------------------------


@bp.get("/tjenester")
def catalogue():
    """Browse by life situation, or search in plain language (Danish or English)."""
    locale = _locale()
    services = catalogue_service.services_on(get_session(), filing.danish_today())
    query = (request.args.get("q") or "").strip()[:200]
    results = catalogue_service.search(services, query, locale) if query else None
    return render_template(
        "citizen/catalogue.html",
        groups=catalogue_service.browse(services, locale),
        query=query,
        results=results,
        locale=locale,
    )


@bp.get("/tjenester/<slug>")
def service(slug: str):
    definition = catalogue_service.get_service(get_session(), slug, day=filing.danish_today())
    if definition is None:
        abort(404)
    return render_template("citizen/service.html", service=definition, locale=_locale())


@bp.post("/tjenester/<slug>/start")
@roles_required(Role.CITIZEN)
def start(slug: str):
    try:
        draft = filing.start_draft(get_session(), current_user, slug, locale=_locale())
    except filing.RequestNotFound:
        abort(404)
    definition = filing.definition_of(get_session(), draft)
    return redirect(url_for("citizen.step", request_id=draft.id, step_id=definition.steps[0].id), code=303)


# --- filing step by step --------------------------------------------------------------


def _draft_and_definition(request_id: int):
    req = _own_request(request_id)
    if req.status != RequestStatus.DRAFT:
        return req, None
    return req, filing.definition_of(get_session(), req)


def _next_url(req, definition, step_id: str) -> str:
    ids = [s.id for s in definition.steps]
    index = ids.index(step_id)
    if index + 1 < len(ids):
        return url_for("citizen.step", request_id=req.id, step_id=ids[index + 1])
    if definition.has_attachments:
        return url_for("citizen.attachments", request_id=req.id)
    return url_for("citizen.check", request_id=req.id)


def _back_url(req, definition, step_id: str | None) -> str:
    ids = [s.id for s in definition.steps]
    if step_id is None:  # the attachments page
        return url_for("citizen.step", request_id=req.id, step_id=ids[-1])
    index = ids.index(step_id)
    if index == 0:
        return url_for("citizen.service", slug=definition.slug)
    return url_for("citizen.step", request_id=req.id, step_id=ids[index - 1])


def _progress(req, definition, current_id: str | None) -> list[dict]:
    """The step indicator: every step, answered ones linked so they stay reachable."""
    incomplete = {s.id for s in filing.incomplete_steps(definition, req.answers or {}, filing.danish_today())}
    items = []
    for s in definition.steps:
        items.append({
            "heading": s.heading(_locale()),
            "current": s.id == current_id,
            "done": s.id not in incomplete,
            "url": url_for("citizen.step", request_id=req.id, step_id=s.id),
        })
    return items


@bp.route("/ansoegninger/<id:request_id>/trin/<step_id>", methods=["GET", "POST"])
@roles_required(Role.CITIZEN)
def step(request_id: int, step_id: str):
    """One topic per page. Valid answers are saved to the draft; with errors the page
    comes back with an error summary, inline errors and the values as typed."""
    req, definition = _draft_and_definition(request_id)
    if definition is None:
        return redirect(url_for("citizen.receipt", request_id=req.id))
    current = definition.step(step_id)
    if current is None:
        abort(404)
    changing = request.values.get("change") == "1"
    errors: dict[str, str] = {}
    values = dict(req.answers or {})
    if request.method == "POST":
        values.update({q.id: request.form.get(q.id, "") for q in current.questions})
        errors = filing.save_step(
            get_session(), current_user, req, step_id, request.form,
            posted_service_type=request.form.get("service_type"),
            for_later=request.form.get("action") == "save",
        )
        if not errors:
            if request.form.get("action") == "save":
                flash(_("Your draft is saved. You can come back to it from your overview."), "success")
                return redirect(url_for("citizen.overview"), code=303)
            target = url_for("citizen.check", request_id=req.id) if changing else _next_url(req, definition, step_id)
            return redirect(target, code=303)
    index = [s.id for s in definition.steps].index(step_id)
    response = render_template(
        "citizen/step.html",
        progress=_progress(req, definition, step_id),
        req=req,
        service=definition,
        step=current,
        step_number=index + 1,
        step_count=len(definition.steps),
        values=values,
        errors=errors,
        error_title=bool(errors),
        changing=changing,
        back_url=url_for("citizen.check", request_id=req.id) if changing else _back_url(req, definition, step_id),
        locale=_locale(),
    )
    return response, (400 if errors else 200)


@bp.route("/ansoegninger/<id:request_id>/bilag", methods=["GET", "POST"])
@roles_required(Role.CITIZEN)
def attachments(request_id: int):
    """Upload attachments: one file input per kind; a bad file gets a message while
    the files already added stay."""
    req, definition = _draft_and_definition(request_id)
    if definition is None:
        return redirect(url_for("citizen.receipt", request_id=req.id))
    errors: dict[str, str] = {}
    if request.method == "POST":
        if request.form.get("service_type") != req.service_type_slug:
            errors["form"] = _("The form did not match your request. Nothing was saved; please try again.")
        else:
            for kind in definition.attachments:
                upload = request.files.get(f"file-{kind.id}")
                if upload is None or not upload.filename:
                    continue
                data = upload.read(current_app.config["UPLOAD_MAX_BYTES"] + 1)
                error = attachment_service.add_attachment(
                    get_session(), current_user, req, kind=kind.id, filename=upload.filename, data=data,
                    upload_dir=_upload_dir(), limits=_limits(), allowed_kinds=definition.attachment_ids,
                )
                if error:
                    errors[f"file-{kind.id}"] = error
        if not errors and request.form.get("action") != "upload":
            have = {a.kind for a in req.attachments}
            for kind in definition.attachments:
                if kind.required and kind.id not in have:
                    errors[f"file-{kind.id}"] = _("Add %(document)s", document=kind.text(_locale()))
        if not errors:
            if request.form.get("action") == "upload":
                flash(_("The file was added."), "success")
                return redirect(url_for("citizen.attachments", request_id=req.id), code=303)
            if request.form.get("action") == "save":
                flash(_("Your draft is saved. You can come back to it from your overview."), "success")
                return redirect(url_for("citizen.overview"), code=303)
            return redirect(url_for("citizen.check", request_id=req.id), code=303)
    response = render_template(
        "citizen/attachments.html",
        req=req,
        service=definition,
        errors=errors,
        error_title=bool(errors),
        max_mb=current_app.config["UPLOAD_MAX_BYTES"] // (1024 * 1024) or 1,
        back_url=_back_url(req, definition, None),
        locale=_locale(),
    )
    return response, (400 if errors else 200)


@bp.post("/ansoegninger/<id:request_id>/bilag/<id:attachment_id>/fjern")
@roles_required(Role.CITIZEN)
def remove_attachment(request_id: int, attachment_id: int):
    req = _own_request(request_id)
    if not attachment_service.remove_attachment(get_session(), current_user, req, attachment_id, _upload_dir()):
        abort(404)
    flash(_("The file was removed."), "success")
    return redirect(url_for("citizen.attachments", request_id=req.id), code=303)


def _login_answers(user: User, session) -> list[tuple[str, str]]:
    """What we know from the login and do not ask again."""
    from portal.services.registry import municipality_by_code

    municipality = municipality_by_code(session, user.municipality_code)
    return [
        (_("Name"), user.name),
        (_("Municipality you live in"), municipality.name_da if municipality else (user.municipality_code or "–")),
    ]


def _missing_attachments(req, definition) -> list:
    """The required attachment kinds the draft lacks (its files are read only when
    the service requires some)."""
    required = [k for k in definition.attachments if k.required]
    if not required:
        return []
    have = {a.kind for a in req.attachments}
    return [k for k in required if k.id not in have]


def _check_page(req, definition, errors=None, status=200):
    session = get_session()
    today = filing.danish_today()
    incomplete = filing.incomplete_steps(definition, req.answers or {}, today)
    preview = filing.preview_routing(session, req, current_user, day=today)
    missing_attachments = _missing_attachments(req, definition)
    errors = dict(errors or {})
    for step_ in incomplete:
        errors.setdefault(step_.id, _("Answer this question: %(question)s", question=step_.heading(_locale())))
    for kind in missing_attachments:
        errors.setdefault(f"attachment-{kind.id}", _("Add %(document)s", document=kind.text(_locale())))
    return render_template(
        "citizen/check.html",
        req=req,
        service=definition,
        preview=preview,
        login_answers=_login_answers(current_user, session),
        display=filing.display_answer,
        errors=errors,
        error_title=bool(errors),
        idempotency_key=uuid.uuid4().hex,
        locale=_locale(),
    ), status


@bp.get("/ansoegninger/<id:request_id>/tjek")
@roles_required(Role.CITIZEN)
def check(request_id: int):
    """Check your answers, with change links, and where the request goes and why."""
    req, definition = _draft_and_definition(request_id)
    if definition is None:
        return redirect(url_for("citizen.receipt", request_id=req.id))
    return _check_page(req, definition)


@bp.post("/ansoegninger/<id:request_id>/send")
@roles_required(Role.CITIZEN)
def submit(request_id: int):
    req = _own_request(request_id)
    if req.status != RequestStatus.DRAFT:
        return redirect(url_for("citizen.receipt", request_id=req.id), code=303)
    definition = filing.definition_of(get_session(), req)
    try:
        filing.file_request(
            get_session(), current_user, req,
            idempotency_key=request.form.get("idempotency_key", ""),
            confirmed_authority_id=request.form.get("authority_id"),
            posted_service_type=request.form.get("service_type"),
            required_attachments_missing=[k.id for k in _missing_attachments(req, definition)],
        )
    except filing.FilingRefused as refused:
        return _check_page(req, definition, errors=refused.errors, status=400)
    return redirect(url_for("citizen.receipt", request_id=req.id), code=303)


@bp.get("/ansoegninger/<id:request_id>/send")
@roles_required(Role.CITIZEN)
def submit_page(request_id: int):
    """A GET here (the language switch after a refused send) goes back to the check page."""
    return redirect(url_for("citizen.check", request_id=_own_request(request_id).id))


@bp.get("/ansoegninger/<id:request_id>/fortsaet")
@roles_required(Role.CITIZEN)
def resume(request_id: int):
    """Back to a draft: the first step not yet answered, else "check your answers"."""
    req, definition = _draft_and_definition(request_id)
    if definition is None:
        return redirect(url_for("citizen.receipt", request_id=req.id))
    incomplete = filing.incomplete_steps(definition, req.answers or {}, filing.danish_today())
    if incomplete:
        return redirect(url_for("citizen.step", request_id=req.id, step_id=incomplete[0].id))
    return redirect(url_for("citizen.check", request_id=req.id))


@bp.post("/ansoegninger/<id:request_id>/slet")
@roles_required(Role.CITIZEN)
def discard(request_id: int):
    req = _own_request(request_id)
    try:
        stored = filing.discard_draft(get_session(), current_user, req)
    except filing.FilingRefused:
        abort(404)
    attachment_service.remove_files(_upload_dir(), stored)
    flash(_("The draft was deleted."), "success")
    return redirect(url_for("citizen.overview"), code=303)


@bp.get("/ansoegninger/<id:request_id>")
@roles_required(Role.CITIZEN)
def receipt(request_id: int):
    """The receipt: reference, where the request goes and why, expected answer date.
    While the worker routes it, htmx polls this URL for the status partial."""
    req = _own_request(request_id)
    if req.status == RequestStatus.DRAFT:
        return redirect(url_for("citizen.resume", request_id=req.id))
    session = get_session()
    definition = filing.definition_of(session, req)
    summary = overview_service.request_summary(session, current_user, req, _locale())
    context = {
        "req": req,
        "service": definition,
        "summary": summary,
        "preview": filing.preview_routing(session, req, current_user),
        "display": filing.display_answer,
        "locale": _locale(),
    }
    if htmx_fragment("request-status"):
        return vary_on_htmx(render_template("citizen/_request_status.html", **context))
    return vary_on_htmx(render_template("citizen/receipt.html", **context))


# --- the overview and cases -----------------------------------------------------------


@bp.get("/mine")
@roles_required(Role.CITIZEN)
def overview():
    """Every request and case of the citizen across all authorities, drafts first."""
    summaries = overview_service.citizen_requests(get_session(), current_user, _locale())
    context = {
        "drafts": [s for s in summaries if s.request.status == RequestStatus.DRAFT],
        "filed": [s for s in summaries if s.request.status != RequestStatus.DRAFT],
        "locale": _locale(),
    }
    context["polling"] = any(s.in_progress for s in context["filed"])
    if htmx_fragment("my-requests"):
        return vary_on_htmx(render_template("citizen/_overview_requests.html", **context))
    return vary_on_htmx(render_template("citizen/overview.html", **context))


def _own_case(case_id: int):
    try:
        return overview_service.citizen_case(get_session(), current_user, case_id)
    except overview_service.CaseNotFound:
        abort(404)


def _case_page(case, errors=None, body="", status=200):
    session = get_session()
    definition = filing.definition_of(session, case.request)
    return render_template(
        "citizen/case.html",
        case=case,
        service=definition,
        timeline=overview_service.case_timeline(session, case, _locale()),
        status_text=definition.status_text(case.status.value, _locale()),
        next_step=definition.next_step(case.status.value, _locale()),
        errors=errors or {},
        error_title=bool(errors),
        body=body,
        idempotency_key=uuid.uuid4().hex,
        locale=_locale(),
    ), status


@bp.get("/mine/sager/<id:case_id>")
@roles_required(Role.CITIZEN)
def case(case_id: int):
    """A case: status, responsible authority, timeline and messages, a reply form."""
    return _case_page(_own_case(case_id))


@bp.post("/mine/sager/<id:case_id>/svar")
@roles_required(Role.CITIZEN)
def reply(case_id: int):
    case = _own_case(case_id)
    body = request.form.get("body", "")
    errors = overview_service.reply_to_case(get_session(), current_user, case, body, request.form.get("idempotency_key"))
    if errors:
        return _case_page(case, errors, body, 400)
    flash(_("Your reply was sent."), "success")
    return redirect(url_for("citizen.case", case_id=case.id), code=303)


@bp.get("/mine/sager/<id:case_id>/svar")
@roles_required(Role.CITIZEN)
def reply_page(case_id: int):
    """A GET here (the language switch after a refused reply) goes back to the case."""
    return redirect(url_for("citizen.case", case_id=_own_case(case_id).id))


@bp.get("/bilag/<id:attachment_id>")
@login_required
def download_attachment(attachment_id: int):
    """An attachment, for the citizen who added it or staff of an authority on the
    request; always as a download, never shown inline."""
    try:
        attachment, path = attachment_service.open_attachment(get_session(), current_user, attachment_id, _upload_dir())
    except attachment_service.AttachmentNotFound:
        abort(404)
    response = send_file(path, mimetype=attachment.content_type, as_attachment=True,
                         download_name=attachment.filename, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.record_once
def _limit_filing(state) -> None:
    # Recorded after the routes above, so their view functions exist when this runs.
    from portal.citizen import limits

    limits.init_app(state.app)
