"""Analysis of run stores: statistics and result tables."""

from engramlab.analysis._stats import cohens_dz as cohens_dz
from engramlab.analysis._stats import light_effect as light_effect
from engramlab.analysis._stats import permutation_test as permutation_test
from engramlab.analysis._stats import sign_flip_test as sign_flip_test
from engramlab.analysis._tables import format_light_table as format_light_table
