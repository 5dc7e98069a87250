import pytest
import torch

from engramlab.errors import UnknownNameError
from engramlab.subjects import load_circuit
from engramlab.subjects._circuit import Circuit


@pytest.fixture()
def circuit():
    return Circuit(load_circuit("mouse-fear"), seeds=[3, 4])


def test_hooks_removed_after_nested_use(circuit):
    calls = []

    def observe(x, *, site):
        calls.append(site)

    with circuit.hooks({"DG": observe}):
        with circuit.hooks({"DG.input": [observe, observe], "CA1": observe}):
            assert circuit.active_hooks() == {"DG": 1, "DG.input": 2, "CA1": 1}
            circuit.step({}, generator=torch.Generator().manual_seed(0), plastic=False)
        assert circuit.active_hooks() == {"DG": 1}
    assert circuit.active_hooks() == {}
    assert calls.count("DG.input") == 2 and calls.count("DG") == 1 and calls.count("CA1") == 1


def test_hooks_removed_when_body_raises(circuit):
    with pytest.raises(RuntimeError, match="boom"):  # noqa: SIM117
        with circuit.hooks({"BLA": lambda x, *, site: x}):
            raise RuntimeError("boom")
    assert circuit.active_hooks() == {}


def test_unknown_site_lists_known_sites_and_attaches_nothing(circuit):
    with pytest.raises(UnknownNameError, match=r"unknown hook site 'DGG'; did you mean 'DG'\?"):  # noqa: SIM117
        with circuit.hooks({"CA1": lambda x, *, site: x, "DGG": lambda x, *, site: x}):
            pass
    assert circuit.active_hooks() == {}


def test_replacing_hook_changes_the_value(circuit):
    g = torch.Generator().manual_seed(0)
    with circuit.hooks({"CeA": lambda x, *, site: torch.ones_like(x)}):
        rates = circuit.step({}, generator=g, plastic=False)
    assert torch.all(rates["CeA"] == 1.0)
