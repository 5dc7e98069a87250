"""Robustness: do a study's findings survive the protocols nobody calibrated for?

A *robustness spec* (one YAML file per study, in ``protocols/robustness/``) names a protocol,
perturbation axes (protocol keys as ``--set`` takes them, with value lists; a ``rename`` axis)
and the study's findings, written declaratively as comparisons of per-subject terms of a run
store. :func:`run_robustness` samples a balanced, seeded grid of variants per study, runs them
on the sweep engine (Dask) and reports, per study and finding, the fraction of variants that
reproduce it. No code here knows a study: the studies are data. See docs/robustness.md.
"""

from engramlab.robustness._findings import FINDING_KINDS as FINDING_KINDS
from engramlab.robustness._findings import FindingOutcome as FindingOutcome
from engramlab.robustness._findings import evaluate_finding as evaluate_finding
from engramlab.robustness._findings import evaluate_findings as evaluate_findings
from engramlab.robustness._findings import register_finding_kind as register_finding_kind
from engramlab.robustness._findings import term_values as term_values
from engramlab.robustness._perturb import NAME_FIELDS as NAME_FIELDS
from engramlab.robustness._perturb import Point as Point
from engramlab.robustness._perturb import Renames as Renames
from engramlab.robustness._perturb import expand_key as expand_key
from engramlab.robustness._perturb import rename_protocol as rename_protocol
from engramlab.robustness._perturb import sample_points as sample_points
from engramlab.robustness._report import format_base as format_base
from engramlab.robustness._report import format_table as format_table
from engramlab.robustness._report import load_results as load_results
from engramlab.robustness._report import summarize as summarize
from engramlab.robustness._report import weakest_row as weakest_row
from engramlab.robustness._report import write_results as write_results
from engramlab.robustness._run import VariantSweep as VariantSweep
from engramlab.robustness._run import check_base as check_base
from engramlab.robustness._run import run_robustness as run_robustness
from engramlab.robustness._run import run_study as run_study
from engramlab.robustness._run import study_points as study_points
from engramlab.robustness._spec import FindingSpec as FindingSpec
from engramlab.robustness._spec import PerturbAxis as PerturbAxis
from engramlab.robustness._spec import StudySpec as StudySpec
from engramlab.robustness._spec import Term as Term
from engramlab.robustness._spec import load_study_spec as load_study_spec
from engramlab.robustness._spec import study_specs as study_specs
