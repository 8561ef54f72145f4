"""Attachments: checked by content, stored outside the web root, shown only to those
who may see them.

A file is accepted only if its first bytes say PDF, PNG or JPEG and its name's
extension agrees; it is stored in ``instance/uploads`` under a generated name. The
citizen who filed the request and staff of the authorities holding one of its cases may
download it; every staff download writes an audit row, and a refused one a ``deny``
row. Everyone else gets the same "not found" as for a file that does not exist.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Attachment, AuditOutcome, Case, Request, RequestStatus, User
from portal.services import audit

# content type -> (magic prefix, extensions that may carry it)
ALLOWED = {
    "application/pdf": (b"%PDF-", (".pdf",)),
    "image/png": (b"\x89PNG\r\n\x1a\n", (".png",)),
    "image/jpeg": (b"\xff\xd8\xff", (".jpg", ".jpeg")),
}


class AttachmentNotFound(LookupError):
    """No such attachment for this user (same answer whether it exists or not)."""


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_files: int


def upload_dir(instance_path: str | Path) -> Path:
    """The folder uploaded files are stored in, under the instance folder."""
    return Path(instance_path) / "uploads"


def delete_rows(session: Session, attachments: list[Attachment]) -> list[str]:
    """Delete these attachments' rows (not yet committed); returns their stored names,
    for ``remove_files`` once the commit has succeeded."""
    for attachment in attachments:
        session.delete(attachment)
    return [attachment.stored_name for attachment in attachments]


def remove_files(folder: Path, stored_names: list[str]) -> None:
    """Remove stored files, after the commit that deleted their rows (a failed commit
    must leave them). A file already gone is no error: removing is idempotent."""
    for name in stored_names:
        (folder / name).unlink(missing_ok=True)


def sniff(head: bytes) -> str | None:
    """The allowed content type the bytes start with, or None."""
    for content_type, (magic, _exts) in ALLOWED.items():
        if head.startswith(magic):
            return content_type
    return None


def clean_filename(name: str) -> str:
    """The name to show and to offer on download: no path, no control characters."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>:|?*;')
    name = name.strip(" .") or "bilag"
    if len(name) > 120:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 110] + dot + ext[:8]) if dot else name[:120]
    return name


def check_upload(filename: str, data: bytes, limits: UploadLimits) -> tuple[str | None, str | None]:
    """(content type, None) for an acceptable file, else (None, error message)."""
    if not data:
        return None, _("The selected file is empty")
    if len(data) > limits.max_bytes:
        return None, _("The file must be smaller than %(size)s MB", size=_megabytes(limits.max_bytes))
    content_type = sniff(data[:16])
    extension = Path(filename.lower()).suffix
    if content_type is None or extension not in ALLOWED[content_type][1]:
        return None, _("The file must be a PDF, PNG or JPEG, and its name must end in .pdf, .png or .jpg")
    return content_type, None


def _megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    return f"{value:.0f}" if value >= 1 else f"{value:.2f}"


def add_attachment(
    session: Session,
    citizen: User,
    request: Request,
    *,
    kind: str,
    filename: str,
    data: bytes,
    upload_dir: Path,
    limits: UploadLimits,
    allowed_kinds: set[str],
) -> str | None:
    """Store one uploaded file on a draft; returns an error message, or None when stored.

    The file is written under a random name before the row commits; a failed commit
    removes it again. Commits.
    """
    if request.status != RequestStatus.DRAFT or request.citizen_id != citizen.id:
        return _("This request has already been sent and can no longer be changed.")
    if kind not in allowed_kinds:
        return _("Choose which document this is")
    if len(request.attachments) >= limits.max_files:
        return _("You can add at most %(count)s files", count=limits.max_files)
    filename = clean_filename(filename)
    content_type, error = check_upload(filename, data, limits)
    if error:
        return error
    upload_dir.mkdir(parents=True, exist_ok=True)
    stored_name = secrets.token_hex(16)
    path = upload_dir / stored_name
    path.write_bytes(data)
    try:
        attachment = Attachment(
            request_id=request.id,
            kind=kind,
            filename=filename,
            stored_name=stored_name,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        session.add(attachment)
        session.flush()
        audit.record(session, actor=citizen, action="attachment.added", request_id=request.id,
                     subject_id=citizen.id, details={"attachment_id": attachment.id, "kind": kind})
        session.commit()
    except Exception:
        path.unlink(missing_ok=True)
        raise
    return None


def remove_attachment(session: Session, citizen: User, request: Request, attachment_id: int, upload_dir: Path) -> bool:
    """Remove an attachment from the citizen's own draft. Returns True if removed. Commits."""
    attachment = session.get(Attachment, attachment_id)
    if (
        attachment is None
        or attachment.request_id != request.id
        or request.citizen_id != citizen.id
        or request.status != RequestStatus.DRAFT
    ):
        return False
    stored = upload_dir / attachment.stored_name
    session.delete(attachment)
    audit.record(session, actor=citizen, action="attachment.removed", request_id=request.id,
                 subject_id=citizen.id, details={"attachment_id": attachment_id})
    session.commit()
    stored.unlink(missing_ok=True)
    return True


def open_attachment(session: Session, user: User, attachment_id: int, upload_dir: Path) -> tuple[Attachment, Path]:
    """The attachment and its file, if ``user`` may see it.

    The citizen who owns the request may; staff may when their authority holds a case
    of the request (the scope comes from the database, never from the URL). Staff
    downloads are audited, allowed or denied. Raises ``AttachmentNotFound`` otherwise.
    """
    attachment = session.get(Attachment, attachment_id)
    request = attachment.request if attachment else None
    allowed = False
    case_id = None
    if request is not None:
        if not user.is_staff:
            allowed = request.citizen_id == user.id
        elif user.authority_id and request.status != RequestStatus.DRAFT:
            case_id = session.scalar(
                select(Case.id).where(Case.request_id == request.id, Case.authority_id == user.authority_id)
            )
            allowed = case_id is not None
    if user.is_staff:
        audit.record(
            session, actor=user, action="attachment.download",
            outcome=AuditOutcome.ALLOW if allowed else AuditOutcome.DENY,
            case_id=case_id, request_id=request.id if request else None,
            subject_id=request.citizen_id if request else None,
            details={"attachment_id": attachment_id},
        )
        session.commit()
    if not allowed:
        raise AttachmentNotFound(attachment_id)
    path = upload_dir / attachment.stored_name
    if not path.is_file():
        raise AttachmentNotFound(attachment_id)
    return attachment, path
