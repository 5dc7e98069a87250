"""The optional ``hf`` subject: a local Hugging Face causal LM checkpoint, loaded by path.

Needs the ``hf`` extra (``pip install engramlab[hf]``); ``transformers`` is imported lazily and
nothing is ever downloaded (``local_files_only=True``). Sites are the model's transformer
blocks, projections its linear (or GPT-2 ``Conv1D``) modules, both named by module path.

>>> HFSpec(path="models/tiny-gpt2").path
'models/tiny-gpt2'
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, model_validator
from torch import nn

from engramlab.errors import RunError, did_you_mean
from engramlab.subjects._hooks import HookedModule

__all__ = ["HFSpec", "HFSubject", "build_lm", "hf_names", "load_hf_subject"]


class HFSpec(BaseModel):
    """``subject: {hf: {path: DIR}}``: a local checkpoint directory (never downloaded), or
    ``subject: {hf: {config: {model_type: llama, hidden_size: 64, ...}}}``: a model built from
    a ``transformers`` config with seeded random weights (one per subject seed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = None
    config: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> HFSpec:
        if (self.path is None) == (self.config is None):
            raise ValueError(
                "an hf subject needs exactly one of 'path' (a local checkpoint directory) or "
                "'config' (a transformers config with model_type, e.g. {model_type: llama})"
            )
        if self.config is not None and "model_type" not in self.config:
            raise ValueError(
                "hf config needs 'model_type' (llama, gpt2, qwen2, gpt_neox, ...), "
                f"got keys {sorted(self.config)}"
            )
        return self


def _transformers():
    try:
        import transformers
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise RunError(
            "subject kind 'hf' needs the optional extra: pip install 'engramlab[hf]'"
        ) from err
    return transformers


def _is_weight_layer(mod: nn.Module) -> bool:
    return isinstance(mod, nn.Linear) or type(mod).__name__ == "Conv1D"


class HFSubject(HookedModule):
    """A wrapped causal LM: ``forward(tokens)`` returns logits; block outputs are sites."""

    kind = "hf"

    def __init__(self, lm: nn.Module):
        blocks = _blocks(lm)
        super().__init__(tuple(name for name, _ in blocks))
        self.lm = lm
        out_emb = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
        tied = bool(getattr(getattr(lm, "config", None), "tie_word_embeddings", False))
        # a tied output layer shares its weight with the token embedding: not an edit target
        self._projections = tuple(
            name
            for name, mod in lm.named_modules()
            if _is_weight_layer(mod) and name and not (tied and mod is out_emb)
        )
        self._handles = []
        for name, mod in blocks:
            mod.register_forward_hook(self._site_hook(name))
        self.edit_layer = next((p for p in self._projections if p.endswith("mlp.c_proj")), "")
        self.key_position = -1

    def _site_hook(self, name: str):
        def hook(_mod, _args, out):
            if isinstance(out, tuple):
                return (self.run_hooks(name, out[0]), *out[1:])
            return self.run_hooks(name, out)

        return hook

    @property
    def projections(self) -> tuple[str, ...]:
        return self._projections

    def linear(self, name: str) -> nn.Module:
        return self.lm.get_submodule(name)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # whole sequences every time: no key/value cache to build (about 10 % of a pass)
        return self.lm(input_ids=tokens, use_cache=False).logits

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self(tokens)[:, -1]


def _blocks(lm: nn.Module) -> list[tuple[str, nn.Module]]:
    for name, mod in lm.named_modules():
        if isinstance(mod, nn.ModuleList) and len(mod) > 0:
            return [(f"{name}.{i}", m) for i, m in enumerate(mod)]
    return []


def _first_line(err: BaseException) -> str:
    cause = err.__cause__ or err
    return " ".join(str(cause).split()) or type(err).__name__


def _config(tr, config: dict[str, Any]):
    """The ``transformers`` config of a config dict; a bad one is a one-line RunError."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    kind = str(config["model_type"])
    if kind not in CONFIG_MAPPING:
        raise RunError(
            f"hf config: unknown model_type {kind!r}"
            f"{did_you_mean(kind, list(CONFIG_MAPPING.keys()))} (e.g. llama, gpt2, qwen2, "
            "gpt_neox)"
        )
    kwargs = {k: v for k, v in config.items() if k != "model_type"}
    try:
        return tr.AutoConfig.for_model(kind, **kwargs)
    except Exception as err:  # transformers' own validation (a ValueError, or its wrapper)
        raise RunError(f"hf config: {_first_line(err)}") from None


def build_lm(config: dict[str, Any], seed: int) -> nn.Module:
    """A causal LM from a ``transformers`` config dict (``model_type`` + its fields), with
    random weights drawn from ``seed`` (nothing is downloaded)."""
    tr = _transformers()
    cfg = _config(tr, config)
    gen = torch.random.fork_rng()
    with gen:
        torch.manual_seed(seed)
        lm = tr.AutoModelForCausalLM.from_config(cfg)
    lm.eval()
    return lm


def hf_names(spec: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(sites, projections)`` of a local checkpoint or config (no weights allocated)."""
    s = HFSpec.model_validate(spec)
    tr = _transformers()
    if s.config is not None:
        config = _config(tr, s.config)
    else:
        config = tr.AutoConfig.from_pretrained(s.path, local_files_only=True)
    try:
        with torch.device("meta"):  # module names only: no weights are allocated
            lm = tr.AutoModelForCausalLM.from_config(config)
    except Exception as err:  # e.g. heads that do not divide the width
        raise RunError(f"hf config: {_first_line(err)}") from None
    sub = HFSubject(lm)
    return sub.sites, sub.projections


def load_hf_subject(spec: Any, seed: int) -> HFSubject:
    """Load the checkpoint at ``spec['path']`` (its own weights: the seed is unused), or
    build the model ``spec['config']`` describes with weights drawn from ``seed``."""
    s = HFSpec.model_validate(spec)
    if s.config is not None:
        return HFSubject(build_lm(s.config, seed))
    tr = _transformers()
    lm = tr.AutoModelForCausalLM.from_pretrained(s.path, local_files_only=True)
    lm.eval()
    return HFSubject(lm)
