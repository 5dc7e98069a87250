"""Small circuit specs the unit tests share."""

from __future__ import annotations

from engramlab.subjects import load_circuit

__all__ = ["fear_world", "stc_pair"]


def stc_pair(x_size: int = 20, y_size: int = 10, **consolidation):
    """Two regions, an input X and a ReLU region Y, joined by one Hebbian projection X-Y under
    synaptic tagging and capture (PRP threshold 0.5); ``consolidation`` adds fields."""
    return load_circuit(
        {
            "regions": {
                "X": {"size": x_size, "activation": "linear", "input": True},
                "Y": {"size": y_size, "activation": "relu"},
            },
            "projections": [
                {"pre": "X", "post": "Y", "weight": 1.0, "plasticity": "hebbian", "lr": 1.0}
            ],
            "readout": {"site": "Y"},
            "consolidation": {"rule": "stc", "prp_threshold": 0.5, **consolidation},
        }
    )


def fear_world(spec):
    """The world of the fear tests: two contexts A and B and a shock (world seed 0)."""
    from engramlab.protocol import ContextStimulus
    from engramlab.world._stimuli import World

    kinds = {"A": "context", "B": "context", "shock": "us"}
    return World(spec, {k: ContextStimulus(kind=v) for k, v in kinds.items()}, seed=0)
