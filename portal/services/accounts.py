"""Logging in and out: turning a validated identity into a portal user, with audit rows.

The claims arrive already validated (portal/auth/tokens.py); this service decides
whether the person may use the portal, keys them on (issuer, sub), and writes the
audit row in the same transaction. It never sees or stores tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AuditOutcome, Authority, Role, User
from portal.models.base import utcnow
from portal.services import audit
from portal.services.deadlines import danish_today
from portal.services.registry import municipality_by_code

LOA_LEVELS = {"low": 1, "substantial": 2, "high": 3}
LOA_PREFIX = "https://data.gov.dk/concept/core/nsis/loa/"


class LoginRefused(Exception):
    """The identity is genuine but may not use the portal; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """What the portal takes from a validated ID token."""

    issuer: str
    subject: str
    provider: str
    kind: str  # citizen, staff or mixed (see portal/auth/providers.py)
    name: str
    email: str | None
    loa: str | None
    municipality_code: str | None
    staff_role: str | None
    authority_id: str | None
    # From the broker's birthdate claim, when it sends one: the decision rules need the
    # citizen's age; without it an age rule stays "unknown" and a caseworker decides.
    birth_date: date | None = None


def loa_level(value: str | None) -> int:
    """0 for a missing or unknown level; 1 Low, 2 Substantial, 3 High.

    Accepts the NSIS URI (``https://data.gov.dk/concept/core/nsis/loa/Substantial``)
    or the bare word, as brokers send either.
    """
    if not isinstance(value, str):
        return 0
    word = value.removeprefix(LOA_PREFIX).rsplit("/", 1)[-1].strip().lower()
    return LOA_LEVELS.get(word, 0)


def _municipality(session: Session, code: str | None, today: date) -> Authority | None:
    if not code or not code.isdigit():
        return None
    authority = municipality_by_code(session, code)
    return authority if authority and authority.valid_on(today) else None


def log_in(session: Session, identity: Identity, *, min_loa: str, locale: str | None = None) -> User:
    """Create or update the user for ``identity`` and audit the login. Commits.

    ``locale`` is a language the person chose in this browser before logging in: it
    is saved as theirs (see ``set_locale``) in the same transaction.

    Raises ``LoginRefused`` (after committing a ``deny`` audit row) when the citizen's
    assurance level is below ``min_loa``, their municipality is missing or unknown,
    or a staff member has no known role or authority.
    """
    role, authority_id = _decide(session, identity, min_loa)
    user = session.scalar(
        select(User).where(User.issuer == identity.issuer, User.subject == identity.subject)
    )
    if user is None:
        user = User(issuer=identity.issuer, subject=identity.subject)
        session.add(user)
    user.role = role
    user.name = identity.name or user.name or "-"
    user.email = identity.email
    user.authority_id = authority_id
    if role is Role.CITIZEN:
        user.municipality_code = identity.municipality_code
        if identity.birth_date is not None:
            user.birth_date = identity.birth_date
    user.last_login_at = utcnow()
    session.flush()
    audit.record(session, actor=user, action="login", subject_id=user.id if role is Role.CITIZEN
                 else None, details={"provider": identity.provider})
    if locale:
        _change_locale(session, user, locale)
    session.commit()
    return user


def set_locale(session: Session, user: User, locale: str) -> bool:
    """Save ``locale`` (a language code the app offers) as ``user``'s language, the
    one their e-mails are written in and their sessions start with. Commits, with an
    audit row, when it changes; returns whether it did."""
    changed = _change_locale(session, user, locale)
    if changed:
        session.commit()
    return changed


def _change_locale(session: Session, user: User, locale: str) -> bool:
    if user.locale == locale:
        return False
    audit.record(session, actor=user, action="account.locale_changed",
                 subject_id=user.id if user.role is Role.CITIZEN else None,
                 details={"from": user.locale, "to": locale})
    user.locale = locale
    return True


def _decide(session: Session, identity: Identity, min_loa: str) -> tuple[Role, str | None]:
    staff_role = identity.staff_role
    if identity.kind == "citizen":
        staff_role = None
    elif identity.kind == "staff" and not staff_role:
        _refuse(session, identity, "no_staff_role")
    if staff_role:
        authority_id = identity.authority_id
        if authority_id:
            if session.get(Authority, authority_id) is None:
                _refuse(session, identity, "authority_unknown")
        elif staff_role != Role.ADMINISTRATOR.value:
            _refuse(session, identity, "authority_missing")
        return Role(staff_role), authority_id
    if loa_level(identity.loa) < loa_level(min_loa):
        _refuse(session, identity, "loa_too_low")
    if not identity.municipality_code:
        _refuse(session, identity, "municipality_missing")
    if _municipality(session, identity.municipality_code, danish_today()) is None:
        _refuse(session, identity, "municipality_unknown")
    return Role.CITIZEN, None


def _refuse(session: Session, identity: Identity, reason: str):
    record_failed_login(session, provider=identity.provider, reason=reason,
                        action="login_refused")
    raise LoginRefused(reason)


def record_failed_login(session: Session, *, provider: str, reason: str,
                        action: str = "login_failed") -> None:
    """Audit a login that did not happen (bad token, refused identity). Commits.

    Only the provider name and a reason code are kept: never tokens or claims.
    """
    audit.record(session, actor=None, action=action, outcome=AuditOutcome.DENY,
                 details={"provider": provider, "reason": reason})
    session.commit()


def record_logout(session: Session, user: User | None, *, how: str) -> None:
    """Audit the end of a user's sessions (``how``: user, backchannel, timeout). Commits."""
    audit.record(session, actor=user, action="logout", details={"how": how})
    session.commit()


def find_user(session: Session, issuer: str, subject: str) -> User | None:
    return session.scalar(select(User).where(User.issuer == issuer, User.subject == subject))
