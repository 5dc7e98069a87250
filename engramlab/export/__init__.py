"""Export a run store to the field's tools: NWB files (pynwb) and tidy CSV tables.

See docs/export.md for what goes where. ``to_nwb`` needs the optional extra
``pip install 'engramlab[nwb]'``; ``to_csv`` needs nothing beyond xarray (pandas).
"""

from engramlab.export._csv import ACTIVITY_AUTO_MAX as ACTIVITY_AUTO_MAX
from engramlab.export._csv import to_csv as to_csv
from engramlab.export._nwb import DEFAULT_SPECIES as DEFAULT_SPECIES
from engramlab.export._nwb import to_nwb as to_nwb
from engramlab.export._paths import MANIFEST as MANIFEST
from engramlab.export._paths import check_target as check_target
