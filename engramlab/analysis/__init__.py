"""Analysis of run stores: statistics, result tables and the ``.engram`` accessor.

Importing this package registers ``.engram`` on ``xarray.DataTree`` and ``xarray.Dataset``
(``engramlab.open_run`` imports it).
"""

from engramlab.analysis._accessor import SYNAPSE_CLASSES as SYNAPSE_CLASSES
from engramlab.analysis._accessor import EngramAccessor as EngramAccessor
from engramlab.analysis._criteria import CRITERIA_TESTS as CRITERIA_TESTS
from engramlab.analysis._criteria import CriterionResult as CriterionResult
from engramlab.analysis._criteria import register_criterion as register_criterion
from engramlab.analysis._criteria import stored_design as stored_design
from engramlab.analysis._criteria_ml import score_ml_criteria as score_ml_criteria
from engramlab.analysis._criteria_table import CRITERIA_SCORERS as CRITERIA_SCORERS
from engramlab.analysis._criteria_table import format_criteria_table as format_criteria_table
from engramlab.analysis._criteria_table import register_scorer as register_scorer
from engramlab.analysis._criteria_table import score_criteria as score_criteria
from engramlab.analysis._forget_quality import forget_quality as forget_quality
from engramlab.analysis._forget_quality import forget_quality_report as forget_quality_report
from engramlab.analysis._forget_quality import format_forget_quality as format_forget_quality
from engramlab.analysis._forget_quality import model_utility as model_utility
from engramlab.analysis._inference import holm as holm
from engramlab.analysis._inference import tost_independent as tost_independent
from engramlab.analysis._inference import tost_paired as tost_paired
from engramlab.analysis._probe import format_probe as format_probe
from engramlab.analysis._probe import linear_probe as linear_probe
from engramlab.analysis._probe import probe_summary as probe_summary
from engramlab.analysis._relearning import format_group_contrasts as format_group_contrasts
from engramlab.analysis._relearning import format_savings as format_savings
from engramlab.analysis._relearning import group_contrasts as group_contrasts
from engramlab.analysis._relearning import relearning_savings as relearning_savings
from engramlab.analysis._stats import DZ_PRINT_MAX as DZ_PRINT_MAX
from engramlab.analysis._stats import SD_FLOOR as SD_FLOOR
from engramlab.analysis._stats import cohens_d as cohens_d
from engramlab.analysis._stats import cohens_dz as cohens_dz
from engramlab.analysis._stats import dz_text as dz_text
from engramlab.analysis._stats import format_dz as format_dz
from engramlab.analysis._stats import format_p as format_p
from engramlab.analysis._stats import light_effect as light_effect
from engramlab.analysis._stats import p_text as p_text
from engramlab.analysis._stats import permutation_test as permutation_test
from engramlab.analysis._stats import rank_sum_test as rank_sum_test
from engramlab.analysis._stats import sign_flip_test as sign_flip_test
from engramlab.analysis._stats import signed_rank_test as signed_rank_test
from engramlab.analysis._stats import significance_stars as significance_stars
from engramlab.analysis._tables import format_light_table as format_light_table
from engramlab.analysis._task_vector import (
    format_task_vector_controls as format_task_vector_controls,
)
from engramlab.analysis._task_vector import task_vector_controls as task_vector_controls
from engramlab.analysis._unlearning import compare_conditions as compare_conditions
from engramlab.analysis._unlearning import format_controls as format_controls
from engramlab.analysis._unlearning import format_unlearning as format_unlearning
from engramlab.analysis._unlearning import sham_controls as sham_controls
from engramlab.analysis._unlearning import unlearning_summary as unlearning_summary
