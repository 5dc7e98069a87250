"""A robustness spec: which protocol, which perturbations, which findings — one YAML file per study.

::

    protocol: my_study                      # a bundled protocol name, or a path relative to this file
    alpha: 0.01                           # per-variant significance level (default 0.01)
    min_n: 8                              # a finding needs at least this many subjects per group
    seeds: [0, 1]                         # every sampled point runs with each of these run seeds
    variants: 4                           # sampled points of the axes' grid (--variants N)
    axes:                                 # one perturbation each: protocol keys (as --set) + values
      tag-fraction: {set: schedule.conditioning.tag.fraction, values: [0.03, 0.08, 0.15]}
      group-size: {set: "groups.*.n", values: [8, 12]}
      names: {rename: [false, true]}      # rename groups, stimuli, ensembles, memories
    findings:
      light-recall:
        claim: light on the tagged cells makes ChR2 mice freeze
        kind: within                      # within | between | overlap | equivalent
        group: ChR2
        a: {phase: light-test, epoch: on}
        b: {phase: light-test, epoch: off}
        direction: increase
        min_effect: 0.15

The terms a finding compares (``a``, ``b``) are per-subject measures of a run store; see
:mod:`engramlab.robustness._findings` for the vocabulary. Names in findings are the protocol's
own names; a renamed variant translates them. Every problem is one line ``FILE:LINE:COL:
error: …`` (:class:`~engramlab.errors.ProtocolError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engramlab.errors import Issue, ProtocolError, did_you_mean
from engramlab.protocol._yaml import load_yaml

__all__ = [
    "AxisSpec",
    "FindingSpec",
    "PerturbAxis",
    "StudySpec",
    "Term",
    "load_study_spec",
    "spec_dirs",
    "study_specs",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: what an overlap term reports (see tree.engram.overlap): overlap − chance, the share of the
#: tag active minus the fraction active, the fraction active, the raw overlap or the ratio
OverlapValue = Literal["excess", "share", "active", "overlap", "chance", "ratio"]


_TERM_KINDS = ("overlap", "tags", "rate", "synapses", "weights", "active")


class Term(_Model):
    """A per-subject measure of a run store.

    - behaviour (default): ``{phase, epoch?}`` — mean behaviour over the phase's trials
      (only its ``on`` or ``off`` light epochs with ``epoch``);
    - ``{overlap: ENSEMBLE, site, phase, light?, value?}`` — reactivation of a tagged ensemble
      by the units active in ``phase`` (``light``: false = light-off trials (default), true =
      light-on trials, null = all); ``value`` (default ``excess`` = overlap − chance);
    - ``{tags: [A, B], site}`` — share of ensemble A's units also in B, minus B's share of the
      site (the overlap expected by chance);
    - ``{rate: ENSEMBLE, site, phase}`` — mean rate of the ensemble's units in ``phase``;
    - ``{active: SITE, phase, epoch?}`` — fraction of the site's units active (rate > 0) per
      trial, averaged over the phase's trials (only its ``on``/``off`` epochs with ``epoch``);
    - ``{synapses: PROJECTION, pre: ENSEMBLE, post: ENSEMBLE, cls: E→E|E→N|N→E|N→N}`` — mean
      weight of that synapse class at the last checkpoint;
    - ``{weights: PROJECTION, phase}`` — the norm of the projection's Δμ after ``phase``.
    """

    phase: str | None = None
    epoch: Literal["on", "off"] | None = None
    overlap: str | None = None
    site: str | None = None
    light: bool | None = False
    value: OverlapValue = "excess"
    tags: tuple[str, str] | None = None
    rate: str | None = None
    synapses: str | None = None
    pre: str | None = None
    post: str | None = None
    cls: Literal["E→E", "E→N", "N→E", "N→N"] | None = None
    weights: str | None = None
    active: str | None = None

    @property
    def kind(self) -> str:
        for k in _TERM_KINDS:
            if getattr(self, k) is not None:
                return k
        return "behaviour"

    @model_validator(mode="after")
    def _complete(self) -> Term:
        kinds = [k for k in _TERM_KINDS if getattr(self, k)]
        if len(kinds) > 1:
            raise ValueError(f"a term measures one thing; got {', '.join(kinds)}")
        need = {
            "behaviour": ("phase",),
            "overlap": ("site", "phase"),
            "tags": ("site",),
            "rate": ("site", "phase"),
            "synapses": ("pre", "post", "cls"),
            "weights": ("phase",),
            "active": ("phase",),
        }[self.kind]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} term needs {', '.join(missing)}")
        return self


class FindingSpec(_Model):
    """One claim of a study, tested in every variant (see :mod:`._findings` for the kinds)."""

    claim: str = Field(min_length=1)
    kind: str
    group: str | list[str] | None = None
    groups: tuple[str, str] | None = None
    a: Term
    b: Term | None = None
    direction: Literal["increase", "decrease"] = "increase"
    min_effect: float = Field(default=0.0, ge=0.0)
    margin: float | None = Field(default=None, gt=0.0)
    alpha: float | None = Field(default=None, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _groups(self) -> FindingSpec:
        if (self.group is None) == (self.groups is None):
            raise ValueError("give either group (one group, or a list pooled) or groups: [X, Y]")
        if self.kind == "equivalent" and self.margin is None:
            raise ValueError("an equivalent finding needs a margin (the largest 'no' effect)")
        return self

    def group_names(self) -> list[str]:
        if self.groups is not None:
            return list(self.groups)
        return [self.group] if isinstance(self.group, str) else list(self.group or [])


class AxisSpec(_Model):
    """``{set: KEY | [KEYS], values: [...]}`` or ``{rename: [false, true]}``."""

    set: str | list[str] | None = None
    values: list[Any] | None = None
    rename: list[bool] | None = None

    @model_validator(mode="after")
    def _one(self) -> AxisSpec:
        if self.rename is not None:
            if self.set is not None or self.values is not None:
                raise ValueError("a rename axis has only 'rename: [false, true]'")
            if not self.rename:
                raise ValueError("rename needs at least one value")
        elif self.set is None or not self.values:
            raise ValueError("an axis needs 'set' (protocol keys) and a non-empty 'values' list")
        return self


class _File(_Model):
    protocol: str
    alpha: float = Field(default=0.01, gt=0.0, lt=1.0)
    min_n: int = Field(default=8, ge=2)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    variants: int = Field(default=4, ge=1)
    sample_seed: int = 0
    axes: dict[str, AxisSpec] = Field(default_factory=dict)
    findings: dict[str, FindingSpec] = Field(min_length=1)


@dataclass(frozen=True)
class PerturbAxis:
    """One perturbation axis: its name, the protocol keys it sets, its values."""

    name: str
    keys: tuple[str, ...]
    values: tuple[Any, ...]
    rename: bool = False


@dataclass(frozen=True)
class StudySpec:
    """A loaded robustness spec: the study name (file stem), the protocol, axes, findings."""

    name: str
    file: str
    protocol_text: str
    protocol_file: str
    alpha: float
    min_n: int
    seeds: tuple[int, ...]
    variants: int
    sample_seed: int
    axes: tuple[PerturbAxis, ...]
    findings: tuple[tuple[str, FindingSpec], ...]

    def groups(self) -> list[str]:
        data = load_yaml(self.protocol_text, self.protocol_file)[0].data
        return list(data.get("groups") or {})


def _issue(doc: Any, file: str, loc: tuple[Any, ...], message: str) -> Issue:
    path: tuple[Any, ...] = tuple(loc)
    while path:
        try:
            line, col = doc.value_pos(path)
            return Issue(file, line, col, message)
        except (KeyError, IndexError, TypeError):
            path = path[:-1]
    return Issue(file, 1, 1, message)


def _check_names(spec: _File, protocol: dict[str, Any], doc: Any, file: str) -> list[Issue]:
    """Every group and phase a finding names exists in the protocol."""
    groups = list(protocol.get("groups") or {})
    phases = [p.get("phase") for p in protocol.get("schedule") or [] if isinstance(p, dict)]
    issues = []
    for fname, f in spec.findings.items():
        for g in f.group_names():
            if g not in groups:
                issues.append(
                    _issue(
                        doc,
                        file,
                        ("findings", fname, "groups" if f.groups else "group"),
                        f"finding {fname!r}: no group {g!r} in the protocol"
                        f"{did_you_mean(g, groups)} (groups: {', '.join(groups)})",
                    )
                )
        for side in ("a", "b"):
            term = getattr(f, side)
            if term is not None and term.phase is not None and term.phase not in phases:
                issues.append(
                    _issue(
                        doc,
                        file,
                        ("findings", fname, side, "phase"),
                        f"finding {fname!r}: no phase {term.phase!r} in the schedule"
                        f"{did_you_mean(term.phase, phases)} (phases: {', '.join(phases)})",
                    )
                )
    return issues


def load_study_spec(path: str | Path) -> StudySpec:
    """Read and check a robustness spec; every problem is a one-line issue."""
    from engramlab.engine import resolve_protocol
    from engramlab.errors import UnknownNameError
    from engramlab.robustness._findings import FINDING_KINDS

    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ProtocolError([Issue(file, 1, 1, f"cannot read robustness spec: {err}")]) from None
    doc, issues = load_yaml(text, file)
    if issues:
        raise ProtocolError(issues)
    if not isinstance(doc.data, dict):
        raise ProtocolError([Issue(file, 1, 1, "a robustness spec is a mapping (protocol: …)")])
    try:
        spec = _File.model_validate(doc.data)
    except ValidationError as err:
        out = []
        for e in err.errors():
            loc = tuple(x for x in e["loc"] if not str(x).startswith("function-"))
            where = ".".join(str(x) for x in loc) or "spec"
            out.append(_issue(doc, file, loc, f"{where}: {e['msg']}"))
        raise ProtocolError(out) from None
    problems = []
    for fname, f in spec.findings.items():
        if f.kind not in FINDING_KINDS:
            problems.append(
                _issue(
                    doc,
                    file,
                    ("findings", fname, "kind"),
                    f"finding {fname!r}: unknown kind {f.kind!r}{did_you_mean(f.kind, FINDING_KINDS)}"
                    f" (known: {', '.join(FINDING_KINDS)})",
                )
            )
    target = path.parent / spec.protocol
    try:
        proto = target if target.is_file() else resolve_protocol(spec.protocol)
    except UnknownNameError as err:
        line, col = doc.value_pos(("protocol",))
        raise ProtocolError([Issue(file, line, col, str(err).strip("\"'"))]) from None
    ptext = Path(proto).read_text(encoding="utf-8")
    pdata = load_yaml(ptext, str(proto))[0].data
    problems += _check_names(spec, pdata if isinstance(pdata, dict) else {}, doc, file)
    if problems:
        raise ProtocolError(problems)
    axes = tuple(
        PerturbAxis(name, (), tuple(a.rename), rename=True)
        if a.rename is not None
        else PerturbAxis(
            name,
            tuple([a.set] if isinstance(a.set, str) else a.set or []),
            tuple(a.values or []),
        )
        for name, a in spec.axes.items()
    )
    return StudySpec(
        name=path.stem,
        file=file,
        protocol_text=ptext,
        protocol_file=str(proto),
        alpha=spec.alpha,
        min_n=spec.min_n,
        seeds=tuple(spec.seeds),
        variants=spec.variants,
        sample_seed=spec.sample_seed,
        axes=axes,
        findings=tuple(spec.findings.items()),
    )


def spec_dirs() -> list[Path]:
    """Where bundled robustness specs live: ``robustness/`` under each protocols directory."""
    from engramlab.protocol._library import protocols_dirs

    return [d / "robustness" for d in protocols_dirs() if (d / "robustness").is_dir()]


def study_specs(names: Any = ()) -> list[Path]:
    """The spec files of the named studies (a file path, or a bundled spec's name such as
    ``my_study`` for ``protocols/robustness/my_study.yaml``); all bundled specs when ``names`` is empty."""
    from engramlab.errors import unknown_name

    bundled: dict[str, Path] = {}
    for d in spec_dirs():
        for p in sorted(d.glob("*.yaml")):
            bundled.setdefault(p.stem, p)
    if not names:
        return list(bundled.values())
    out = []
    for n in names:
        p = Path(n)
        if p.is_file():
            out.append(p)
        elif str(n) in bundled:
            out.append(bundled[str(n)])
        else:
            raise unknown_name("robustness study", str(n), list(bundled))
    return out
