"""Engram estimators (closed-form, delta, synaptic-tag, graft, rank-one) and their statistics
(the criteria scored on trained networks are in :mod:`engramlab.analysis`).

>>> from engramlab.engrams import available_estimators
>>> available_estimators()
('closed-form', 'delta', 'graft', 'rank-one', 'synaptic-tag')
"""

from engramlab.engrams._closed_form import FLOAT32_EPS as FLOAT32_EPS
from engramlab.engrams._closed_form import closed_form_engram as closed_form_engram
from engramlab.engrams._closed_form import pinv_sym as pinv_sym
from engramlab.engrams._closed_form import residuals as residuals
from engramlab.engrams._rank_one import memit_update as memit_update
from engramlab.engrams._rank_one import rank_one_update as rank_one_update
from engramlab.engrams._registry import ESTIMATORS as ESTIMATORS
from engramlab.engrams._registry import Engram as Engram
from engramlab.engrams._registry import available_estimators as available_estimators
from engramlab.engrams._registry import get_estimator as get_estimator
from engramlab.engrams._registry import register_estimator as register_estimator
from engramlab.engrams._registry import scaling_factors as scaling_factors
from engramlab.engrams._stats import SecondMoments as SecondMoments
from engramlab.engrams._stats import collect_second_moments as collect_second_moments
from engramlab.engrams._stats import pack as pack
from engramlab.engrams._stats import unpack as unpack
from engramlab.engrams._summary import erasure_matrix as erasure_matrix
from engramlab.engrams._summary import format_ml_summary as format_ml_summary
