"""Notifications: written with the change that causes them, sent once by a job.

``queue_notification`` adds a ``Notification`` (unique ``key`` per cause) and an outbox
row for ``portal.jobs.notify`` in the caller's transaction. ``send_notification`` is
what the job does: it e-mails the person through the configured SMTP server in their
language, with nothing in it but the case reference and a link, and records that it
was sent, so a second run sends nothing.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, Notification, User
from portal.models.base import utcnow


def N_(text: str) -> str:
    """Mark a string for translation without translating it yet (Babel's marker)."""
    return text


# What each kind of notification says: (subject, body) as English msgids; the body
# may use %(reference)s and %(link)s and nothing else (no personal details).
KINDS = {
    "case_opened": (
        N_("Your request has been received (%(reference)s)"),
        N_("Your request has been sent to the authority that handles it. Reference: %(reference)s. Read more after logging in: %(link)s"),
    ),
    "handover": (
        N_("Your case has moved to another authority (%(reference)s)"),
        N_("Your case has been sent to the authority responsible for it. Your request is still open. Reference: %(reference)s. Read more after logging in: %(link)s"),
    ),
    "status_changed": (
        N_("News in your case (%(reference)s)"),
        N_("There is news in your case. Reference: %(reference)s. Read more after logging in: %(link)s"),
    ),
    "message": (
        N_("You have a new message (%(reference)s)"),
        N_("You have a new message about your case. Reference: %(reference)s. Read it after logging in: %(link)s"),
    ),
    "target_missed": (
        N_("Your case will take longer than expected (%(reference)s)"),
        N_("The authority will not reach a decision in your case by the expected date. You can see the new expected date after logging in. Reference: %(reference)s. %(link)s"),
    ),
    "survey": (
        N_("How did it go? (%(reference)s)"),
        N_("Your case has been decided. Tell us how it went: three short questions, all optional. Reference: %(reference)s. Answer after logging in: %(link)s"),
    ),
    "coordination_offered": (
        N_("You can get one coordinated plan"),
        N_("Several authorities handle your cases. You can choose to have them work together on one plan. Read more after logging in: %(link)s"),
    ),
    "citizen_replied": (
        N_("The citizen has replied (%(reference)s)"),
        N_("The citizen has written a reply in case %(reference)s. Open it: %(link)s"),
    ),
    "deadline_warning": (
        N_("A case is close to its target date (%(reference)s)"),
        N_("The case %(reference)s is close to its service target. Open it: %(link)s"),
    ),
    "deadline_breached": (
        N_("A case has passed its target date (%(reference)s)"),
        N_("The case %(reference)s has passed its service target and is escalated to you. Open it: %(link)s"),
    ),
    "request_unroutable": (
        N_("A request could not be routed (%(reference)s)"),
        N_("No rule routed the request %(reference)s. It waits until someone routes it by hand: %(link)s"),
    ),
}

# Where a staff notice of each kind points when it names no case.
STAFF_PAGES = {"request_unroutable": "/admin/requests/unroutable"}


def queue_notification(
    session: Session, *, key: str, user: User, kind: str, reference: str | None,
    case_id: int | None = None, case: Case | None = None, new_cause: bool = False,
) -> Notification | None:
    """Add a notification and its ``notify`` job to the caller's transaction.

    Does nothing and returns ``None`` when a notification with ``key`` exists already
    (so callers may run twice); ``new_cause`` skips that check when the cause was
    created in this very transaction. The channel follows the person's preference: with
    e-mail turned off or no address, the notification is recorded but not sent. The
    case is given by id, or as ``case`` when it is being opened in this transaction.
    The job names the notification by its key, so nothing needs flushing here.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if not new_cause and session.scalar(select(Notification.id).where(Notification.key == key)) is not None:
        return None
    channel = "email" if user.notify_by_email and user.email else "none"
    note = Notification(key=key, user_id=user.id, case_id=case_id, kind=kind,
                        reference=reference, channel=channel,
                        status="pending" if channel == "email" else "skipped")
    if case is not None:
        note.case = case
    session.add(note)
    if channel == "email":
        from portal import jobs
        from portal.services.outbox import add_job

        add_job(session, jobs.notify, key=key)
    return note


def render(kind: str, locale: str, reference: str | None, link: str) -> tuple[str, str]:
    """Subject and body of a notification in ``locale`` ("da" or "en")."""
    subject, body = KINDS[kind]
    values = {"reference": reference or "-", "link": link}
    with force_locale(locale if locale in ("da", "en") else "da"):
        return _(subject, **values), _(body, **values)


def send_notification(session: Session, notification_id: int | None = None, *, key: str | None = None) -> bool:
    """Send one notification, given by id or by key, by e-mail unless it was sent
    already. Commits.

    Returns True when an e-mail went out now. Raises ``OSError``/``SMTPException``
    when the SMTP server cannot take it (the job is then retried).
    """
    found = Notification.key == key if key is not None else Notification.id == notification_id
    stmt = select(Notification).where(found)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    note = session.scalar(stmt)
    if note is None or note.sent_at is not None or note.channel != "email":
        session.rollback()
        return False
    user = session.get(User, note.user_id)
    base = current_app.config.get("BASE_URL", "").rstrip("/")
    link = _link(base, user, note.case_id, note.kind)
    subject, body = render(note.kind, user.locale, note.reference, link)
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = user.email
    message["Subject"] = subject
    # A Message-ID derived from the key lets mail systems drop a resend after a crash
    # between sending and committing.
    message["Message-ID"] = make_msgid(idstring=f"n{note.id}", domain="indgang.local")
    message["X-Indgang-Notification"] = note.key
    message.set_content(body)
    with smtplib.SMTP(current_app.config["SMTP_HOST"], int(current_app.config["SMTP_PORT"]), timeout=10) as smtp:
        smtp.send_message(message)
    note.sent_at = utcnow()
    note.status = "sent"
    session.commit()
    return True


def _link(base: str, user: User, case_id: int | None, kind: str) -> str:
    """Where the notice points: the case (after login), the page its kind is about,
    or the person's start page."""
    if user.is_staff:
        return f"{base}/cases/{case_id}" if case_id else f"{base}{STAFF_PAGES.get(kind, '/cases/')}"
    return f"{base}/mine/sager/{case_id}" if case_id else f"{base}/mine"
