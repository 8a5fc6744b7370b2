"""domain: how much of a group's data is about the course's domain (geology, minerals, remote sensing,
hyperspectral imaging), measured and explained.

The signal is plain: the share of samples in whose question, context and answer no term of the domain appears
(English word stems, Korean terms). Off-domain data (recipes, antonyms: a general instruction set converted to
the course fields) is said with three example lines and flagged for the instructor; no points are taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from grader.records import Problem, Sample, file_line

# English stems, matched at the start of a word ("mineral" finds minerals, mineralogy); words that are common
# outside the domain (band, image, deposit, fault, mine) are left out so that a recipe never counts as geology.
STEMS = (
    "geolog", "geochem", "geophys", "geoscien", "geotherm", "mineral", "rock", "lithol", "petrolog", "petrograph",
    "igneous", "sediment", "metamorph", "volcan", "magma", "lava", "pluton", "granit", "basalt", "andesit",
    "rhyolit", "quartz", "feldspar", "clay", "kaolin", "illite", "smectit", "montmorillonit", "muscovit", "sericit",
    "mica", "chlorit", "epidot", "calcit", "dolomit", "carbonat", "sulfat", "sulphat", "sulfide", "sulphide",
    "hematit", "goethit", "jarosit", "alunit", "gypsum", "olivin", "pyroxen", "amphibol", "garnet", "zircon",
    "serpentin", "talc", "limeston", "sandston", "shale", "schist", "gneiss", "marble", "crystal", "ore ", "ores",
    "porphyr", "alteration", "hydrotherm", "outcrop", "stratigra", "tecton", "crust", "mantle", "fossil", "erosion",
    "weathering", "soil", "regolith", "mining", "borehole", "seismic", "earthquake", "spectr", "hyperspectral",
    "multispectral", "reflectan", "emissiv", "absorption", "wavelength", "swir", "vnir", "tir ", "nir ",
    "remote sens", "remotely sensed", "satellite", "airborne", "spaceborne", "landsat", "sentinel", "aviris",
    "enmap", "prisma", "aster", "hyperion", "worldview", "lidar", "radar", "insar", "imagery", "pixel",
    "endmember", "unmixing", "ndvi", "radiometr", "atmospheric correction", "sensor", "band ratio",
    "spectral angle", "continuum removal", "land cover", "vegetation index", "noise fraction", "mnf",
    "signal-to-noise", "principal component",
)  # fmt: skip
# Korean terms: matched anywhere (particles attach to the noun, so there is no word boundary to wait for).
KOREAN = (
    "지질", "광물", "암석", "화성암", "퇴적", "변성암", "화산", "마그마", "화강암", "현무암", "석영", "장석",
    "점토", "방해석", "백운석", "광상", "광산", "변질", "지층", "단층", "지각", "맨틀", "화석", "풍화", "토양",
    "지하수", "지진", "초분광", "다중분광", "분광", "반사율", "반사도", "흡수 특성", "흡수대", "파장", "원격탐사",
    "원격 탐사", "위성", "항공", "센서", "영상 분광", "식생", "피복", "대기 보정", "엔드멤버", "분광 혼합",
)  # fmt: skip
PATTERN = re.compile(r"\b(?:" + "|".join(re.escape(s.strip()) for s in STEMS) + ")", re.IGNORECASE)
KOREAN_PATTERN = re.compile("|".join(re.escape(k) for k in KOREAN))
MIN_SAMPLES = 5  # fewer than this: a share says nothing
FLAG_SHARE = 0.3  # the share of samples without a domain term from which the data is flagged
SHOWN = 3


@dataclass(frozen=True)
class Domain:
    """Of `n` samples, `off` name no domain term; `examples` are (source, question) of the first of them."""

    n: int
    off: int
    examples: tuple[tuple[str, str], ...]

    @property
    def share(self) -> float:
        return self.off / self.n if self.n else 0.0

    @property
    def flagged(self) -> bool:
        return self.n >= MIN_SAMPLES and self.share >= FLAG_SHARE


def in_domain(sample: Sample) -> bool:
    text = f"{sample.instruction}\n{sample.context}\n{sample.answer}"
    return bool(PATTERN.search(text) or KOREAN_PATTERN.search(text))


def measure(samples: list[Sample]) -> Domain:
    off = [s for s in samples if not in_domain(s)]
    return Domain(len(samples), len(off), tuple((s.source, s.instruction) for s in off[:SHOWN]))


def flag(domain: Domain) -> str:
    """The gradebook's words for the flag: the measure that decided it."""
    return f"off-domain: {domain.off} of {domain.n} samples ({domain.share:.0%}) name no geology/remote-sensing term"


def problem(domain: Domain) -> Problem:
    file, line = file_line(domain.examples[0][0])
    shown = "; ".join(f'{source}: "{question[:60]}"' for source, question in domain.examples)
    return Problem(
        file=file,
        line=line,
        severity="warning",
        code="off-domain",
        message=f"{flag(domain)} (flagged from {FLAG_SHARE:.0%}), e.g. {shown}",
        hint="the assignment asks for geology / hyperspectral remote-sensing Q&A; the instructor sees this flag, no "
        "points are taken for it",
    )
