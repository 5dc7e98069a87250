"""Subjects: the circuit and the ML models (mlp, transformer, hf) behind one sites-and-hooks
interface."""

from engramlab.subjects._spec import CircuitSpec as CircuitSpec
from engramlab.subjects._spec import ProjectionSpec as ProjectionSpec
from engramlab.subjects._spec import ReadoutSpec as ReadoutSpec
from engramlab.subjects._spec import ReconsolidationSpec as ReconsolidationSpec
from engramlab.subjects._spec import RegionSpec as RegionSpec
from engramlab.subjects._spec import SubjectInfo as SubjectInfo
from engramlab.subjects._spec import SurpriseSpec as SurpriseSpec
from engramlab.subjects._spec import bundled_circuits as bundled_circuits
from engramlab.subjects._spec import describe_subject as describe_subject
from engramlab.subjects._spec import load_circuit as load_circuit
from engramlab.subjects._spec import subject_spec_model as subject_spec_model
