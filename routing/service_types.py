"""The fixed service type ids the portal catalogue uses, with the words the
explanations need in Danish and English."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ServiceType:
    """A kind of request a citizen can make.

    ``name_da``/``name_en`` are written to read inside a sentence ("because home care is
    handled by ..."); ``request_da`` is the Danish noun for the citizen's request
    ("ansøgning", "henvendelse", "klage").
    """

    id: str
    name_da: str
    name_en: str
    request_da: str = "ansøgning"
    request_en: str = "request"
    plural_en: bool = False  # "disability aids are handled", not "is"

    @property
    def handled_en(self) -> str:
        return f"{self.name_en} {'are' if self.plural_en else 'is'} handled"


SERVICE_TYPES: MappingProxyType[str, ServiceType] = MappingProxyType(
    {
        s.id: s
        for s in (
            ServiceType("housing-benefit", "boligstøtte", "housing benefit"),
            ServiceType("deposit-loan", "beboerindskudslån", "a deposit loan"),
            ServiceType("cash-benefit", "kontanthjælp", "cash benefit"),
            ServiceType("home-care", "hjemmehjælp", "home care"),
            ServiceType(
                "hospital-discharge",
                "hjælp efter udskrivning fra hospital",
                "help after hospital discharge",
            ),
            ServiceType("child-benefit", "børne- og ungeydelse", "child benefit"),
            ServiceType("disability-aids", "hjælpemidler", "disability aids", plural_en=True),
            ServiceType("psychiatric-treatment", "psykiatrisk behandling", "psychiatric treatment"),
            ServiceType(
                "social-psychiatric-support",
                "socialpsykiatrisk støtte",
                "social-psychiatric support",
            ),
            ServiceType(
                "tax-question", "skattespørgsmål", "tax questions", "henvendelse", plural_en=True
            ),
            ServiceType(
                "family-law",
                "separation, forældremyndighed og børnebidrag",
                "separation, custody and child support",
                "henvendelse",
            ),
            ServiceType("job-seeking", "jobsøgning", "job seeking", "henvendelse"),
            ServiceType(
                "appeal",
                "klager over afgørelser",
                "appeals against decisions",
                "klage",
                plural_en=True,
            ),
        )
    }
)
