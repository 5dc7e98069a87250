"""The world of a run: stimuli shared by all subjects."""

from engramlab.world._stimuli import World as World
