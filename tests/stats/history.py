"""A small hand-made history with known answers, shared by the measure tests and the
database tests (which insert the same rows and must get the same figures).

All in November 2026: Monday 2nd to Friday 27th; no public holidays in between.

- A: filed Mon 2 09:00 at 461 (rule home-care v1), rejected by 461 and handed over to
  101 on Tue 3 10:00, accepted by 101 Thu 5 12:00, handed over again to Udbetaling
  Danmark Fri 6 09:00, accepted Tue 10 09:00, decided Fri 20. Misrouted.
- B: filed Mon 2 09:00 at 461 (home-care v1), accepted Mon 2 15:00; target Mon 16,
  limit Fri 20, suspended 5 working days, which moved them (as the cases service
  does) to target Mon 23, limit Fri 27; decided Fri 20: meets both only thanks to the
  suspension.
- C: filed Mon 2 09:00 at 461 (home-care v2), accepted Wed 4 09:00; target Mon 9,
  limit Mon 30; decided Thu 12: misses the target, meets the limit.
- D: filed Mon 2 09:00 at 461, never accepted, target Mon 9: open and stuck on Thu 12.
- E: one request with two cases at 461 (E1) and region Syddanmark (E2), filed Mon 2
  09:00; E1 accepted Tue 3 09:00, E2 accepted Thu 5 09:00, E1 rejected by 461 Fri 6
  (E2 still holds it, so no time is lost then).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from portal.stats.measures import CaseRow, Event, HandoverRow

M461 = "municipality-461"
M101 = "municipality-101"
UDK = "state-udbetaling-danmark"
REGION = "region-1083"
AS_OF = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
TODAY = date(2026, 11, 12)


def t(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


FILED = t(2)

CASE_A = CaseRow(
    id=1, request_id=1, filed_at=FILED, authority_id=UDK, first_authority_id=M461,
    service_type="home-care", rule_id="home-care", rule_set_version=1, status="decided",
    decided_at=t(20), target_due=date(2026, 11, 30), limit_due=date(2026, 12, 10),
    events=(
        Event("opened", FILED, M461),
        Event("rejected", t(3, 10), M461, {"reason": "not ours"}),
        Event("handover_sent", t(3, 10), M461, {"from": M461, "to": M101}),
        Event("handover_accepted", t(5, 12), M101),
        Event("handover_sent", t(6, 9), M101, {"from": M101, "to": UDK}),
        Event("handover_accepted", t(10, 9), UDK),
        Event("decided", t(20), UDK, {"outcome": "granted"}),
    ),
)
HANDOVERS_A = (
    HandoverRow(1, M461, M101, t(3, 10), t(5, 12)),
    HandoverRow(1, M101, UDK, t(6, 9), t(10, 9)),
)
CASE_B = CaseRow(
    id=2, request_id=2, filed_at=FILED, authority_id=M461, first_authority_id=M461,
    service_type="home-care", rule_id="home-care", rule_set_version=1, status="decided",
    decided_at=t(20), target_due=date(2026, 11, 23), limit_due=date(2026, 11, 27),
    events=(
        Event("opened", FILED, M461),
        Event("accepted", t(2, 15), M461),
        Event("deadline_suspended", t(4), M461, {"days": 5, "reason": "waiting for a doctor's statement"}),
        Event("decided", t(20), M461),
    ),
)
CASE_C = CaseRow(
    id=3, request_id=3, filed_at=FILED, authority_id=M461, first_authority_id=M461,
    service_type="home-care", rule_id="home-care", rule_set_version=2, status="decided",
    decided_at=t(12), target_due=date(2026, 11, 9), limit_due=date(2026, 11, 30),
    events=(Event("opened", FILED, M461), Event("accepted", t(4), M461), Event("decided", t(12), M461)),
)
CASE_D = CaseRow(
    id=4, request_id=4, filed_at=FILED, authority_id=M461, first_authority_id=M461,
    service_type="cash-benefit", rule_id="cash-benefit", rule_set_version=1, status="pending",
    target_due=date(2026, 11, 9), limit_due=date(2026, 11, 20),
    events=(Event("opened", FILED, M461),),
)
CASE_E1 = CaseRow(
    id=5, request_id=5, filed_at=FILED, authority_id=M461, first_authority_id=M461,
    service_type="discharge-help", rule_id="discharge", rule_set_version=1, status="pending",
    events=(Event("opened", FILED, M461), Event("accepted", t(3), M461), Event("rejected", t(6), M461)),
)
CASE_E2 = CaseRow(
    id=6, request_id=5, filed_at=FILED, authority_id=REGION, first_authority_id=REGION,
    service_type="discharge-help", rule_id="discharge", rule_set_version=1, status="accepted",
    events=(Event("opened", FILED, REGION), Event("accepted", t(5), REGION)),
)
CASES = (CASE_A, CASE_B, CASE_C, CASE_D, CASE_E1, CASE_E2)
HANDOVERS = HANDOVERS_A

# The known answers.
WD_TO_ACCEPTANCE = {1: 6, 2: 0, 3: 2, 5: 1, 6: 3}  # D is not accepted
WD_LOST_BY_REQUEST = {1: 3 + 2, 2: 0, 3: 2, 4: 8, 5: 1}
