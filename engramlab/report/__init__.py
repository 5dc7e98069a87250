"""Reports of run stores: a self-contained HTML page and a Markdown page with the figures."""

from engramlab.report._report import write_report as write_report
from engramlab.report._schedule import describe_phase as describe_phase
from engramlab.report._schedule import schedule_table as schedule_table
