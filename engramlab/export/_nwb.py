"""Export a circuit run store to NWB (pynwb, HDF5): one file per virtual subject.

NWB holds one subject per file, so a run of N virtual subjects becomes N files laid out as
DANDI organises a dataset, ``DIR/sub-<id>/sub-<id>_ses-<protocol>.nwb``. Each file holds the
subject's trials (the NWB trials table), its behaviour per trial, its light epochs, one unit
table per site (rates per trial and tag membership) and the run's provenance. The mapping and
where the analogy stops are in docs/export.md.

>>> from engramlab.export import to_nwb                      # doctest: +SKIP
>>> to_nwb(engramlab.open_run("run.zarr"), "run-nwb")[0]     # doctest: +SKIP
PosixPath('run-nwb/sub-000/sub-000_ses-my-study.nwb')
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid
from pathlib import Path

import numpy as np
import xarray as xr

from engramlab.errors import ExportError
from engramlab.export._paths import staged_dir, write_manifest

__all__ = ["DEFAULT_SPECIES", "to_nwb"]

#: ``Subject.species`` when none is given: the bundled circuits model mice
DEFAULT_SPECIES = "Mus musculus"

_SPECIES = re.compile(r"([A-Z][a-z]* [a-z]+)|(http://purl\.obolibrary\.org/obo/NCBITaxon_\d+)")
_NAMESPACE = uuid.UUID("6f1c1f0e-6a43-4f4e-9a53-0e2b8c1d7a11")  # engramlab NWB identifiers


def _pynwb():
    try:
        import pynwb
        from hdmf.common import DynamicTable, VectorData
    except ImportError:
        raise ExportError(
            "NWB export needs pynwb, which is not installed; run: pip install 'engramlab[nwb]'"
        ) from None
    return pynwb, DynamicTable, VectorData


def _name(text: str) -> str:
    """An NWB object name: no slashes (they separate HDF5 groups)."""
    return str(text).replace("/", "_") or "_"


def _slug(text: str) -> str:
    """A DANDI path label: letters, digits and ``-`` only."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", str(text)).strip("-") or "run"


def _str(value) -> str:
    return "" if value is None else str(value)


def _trial_stops(start: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """End of each trial (s): start + the spacing of trials in its phase, cut at the next trial.

    The store keeps when each trial started, not how long it lasted; trials of one phase follow
    one another at a fixed spacing (``trial_minutes``, or ``hours / trials``). A phase with a
    single trial takes the median spacing of the run's other phases.
    """
    gaps: dict[str, list[float]] = {}
    for i in range(1, len(start)):
        if phase[i] == phase[i - 1] and start[i] > start[i - 1]:
            gaps.setdefault(phase[i], []).append(start[i] - start[i - 1])
    every = [g for v in gaps.values() for g in v]
    fallback = float(np.median(every)) if every else 0.0
    stop = np.array(
        [
            s + (float(np.median(gaps[p])) if p in gaps else fallback)
            for s, p in zip(start, phase, strict=True)
        ]
    )
    if len(start) > 1:
        stop[:-1] = np.minimum(stop[:-1], np.maximum(start[1:], start[:-1]))
    return stop


def _subject_trials(beh: xr.Dataset, measure: str) -> np.ndarray:
    """Indices of the trials one subject ran (the store fills the others with NaN / "")."""
    phase = np.asarray(beh["phase"].values, dtype=object).astype(str)
    ran = (phase != "") & np.isfinite(np.asarray(beh["time"].values, dtype=float))
    ran &= np.isfinite(np.asarray(beh[measure].values, dtype=float))
    return np.flatnonzero(ran)


def _unit_tables(tree, s: int, idx: np.ndarray, DynamicTable, VectorData) -> list:
    """One table per site: a row per unit, its rate in each of the subject's trials and one
    boolean column per ensemble tagged in the subject."""
    act = tree["activity"].children if "activity" in tree.children else {}
    tags = tree["tags"].children if "tags" in tree.children else {}
    tables = []
    for site in list(dict.fromkeys([*act, *tags])):
        cols = []
        n_units = None
        if site in act and len(idx):
            rate = np.asarray(act[site]["rate"].isel(subject=s).values)[idx].T  # (unit, trial)
            n_units = rate.shape[0]
            cols.append(
                VectorData(
                    name="rate",
                    description=(
                        f"firing rate of the unit in {site} (dimensionless, not spikes) in each "
                        "trial: column k is row k of the trials table"
                    ),
                    data=rate.astype(np.float32),
                )
            )
        if site in tags:
            node = tags[site].to_dataset().isel(subject=s)
            for e, ens in enumerate(np.asarray(node["ensemble"].values).astype(str)):
                opsin = _str(node["opsin"].values[e])
                if not opsin:  # this subject's group never tagged the ensemble
                    continue
                member = np.asarray(node["member"].values[e], dtype=bool)
                n_units = member.shape[0]
                cols.append(
                    VectorData(
                        name=_name(f"tagged_{ens}"),
                        description=(
                            f"unit is a member of ensemble {ens!r} (opsin {opsin}, tagged in "
                            f"phase {_str(node['tag_phase'].values[e])!r})"
                        ),
                        data=member,
                    )
                )
        if n_units is None or not cols:
            continue
        unit = VectorData(name="unit", description=f"unit index in {site}", data=np.arange(n_units))
        tables.append(
            DynamicTable(
                name=_name(f"units_{site}"),
                description=f"units of the simulated site {site}: rates per trial and cell tags",
                id=np.arange(n_units),
                columns=[unit, *cols],
            )
        )
    return tables


def _weight_table(tree, s: int, DynamicTable, VectorData):
    """Rows = the subject's weight checkpoints; one column of ‖Δμ‖ per projection."""
    if "weights" not in tree.children or "delta_norm" not in tree["weights"].data_vars:
        return None
    ds = tree["weights"].to_dataset().isel(subject=s)
    dn = np.asarray(ds["delta_norm"].values, dtype=float)  # (checkpoint, projection)
    phase = np.asarray(ds["phase"].values, dtype=object).astype(str)
    keep = np.flatnonzero((phase != "") & np.isfinite(dn).all(axis=1))
    if not len(keep):
        return None
    time = np.asarray(ds["time"].values, dtype=float)[keep] * 3600.0
    cols = [
        VectorData(name="phase", description="phase at the checkpoint", data=list(phase[keep])),
        VectorData(
            name="time", description="seconds since the session start (simulated)", data=time
        ),
    ]
    for p, proj in enumerate(np.asarray(ds["projection"].values).astype(str)):
        cols.append(
            VectorData(
                name=_name(f"delta_norm_{proj}"),
                description=f"Frobenius norm of the weight change of {proj} since the naive subject",
                data=dn[keep, p].astype(np.float32),
            )
        )
    return DynamicTable(
        name="weight_change",
        description="weight checkpoints: ‖Δμ‖ of every projection (simulated synapses)",
        id=np.arange(len(keep)),
        columns=cols,
    )


def _blocks(tree: xr.DataTree):
    """Yield (first subject, tree of the nodes NWB needs for a block of subjects, loaded).

    Blocks follow the store's chunks along ``subject``, so every chunk is read once rather
    than once per subject."""
    beh = tree["behaviour"]
    n = beh.sizes["subject"]
    chunks = next(iter(beh.data_vars.values())).encoding.get("chunks") or (n,)
    step = max(1, int(chunks[0]))
    paths = ["behaviour"]
    for parent in ("activity", "tags"):
        if parent in tree.children:
            paths += [f"{parent}/{site}" for site in tree[parent].children]
    weights = "weights" in tree.children and "delta_norm" in tree["weights"].data_vars
    for first in range(0, n, step):
        part = slice(first, min(first + step, n))
        nodes = {"/": xr.Dataset(attrs=dict(tree.attrs))}
        for path in paths:
            nodes[path] = tree[path].to_dataset().isel(subject=part).load()
        if weights:
            nodes["weights"] = (
                tree["weights"].to_dataset()[["delta_norm"]].isel(subject=part).load()
            )
        yield first, xr.DataTree.from_dict(nodes)


def _nwbfile(tree, i: int, s: int, n_sub: int, species: str, pynwb, DynamicTable, VectorData):
    """The NWBFile of subject ``s`` of ``n_sub``, row ``i`` of the block ``tree``."""
    from pynwb.behavior import BehavioralTimeSeries
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject

    a = tree.attrs
    beh = tree["behaviour"].to_dataset().isel(subject=i)
    measures = [n for n, v in beh.data_vars.items() if v.dims == ("trial",)]
    idx = _subject_trials(beh, measures[0])
    start = np.asarray(beh["time"].values, dtype=float)[idx] * 3600.0
    phase = np.asarray(beh["phase"].values, dtype=object).astype(str)[idx]
    stop = _trial_stops(start, phase)
    group = _str(beh["group"].values)
    created = _dt.datetime.fromisoformat(str(a["created"]))
    if created.tzinfo is None:
        created = created.replace(tzinfo=_dt.timezone.utc)
    name = _str(a.get("protocol_name")) or "run"
    seed = int(a.get("seed", 0))
    subject_seed = int(beh["subject_seed"].values) if "subject_seed" in beh.coords else None
    sha = _str(a.get("protocol_sha256"))
    sid = f"{s:0{max(3, len(str(n_sub - 1)))}d}"
    title = _str(a.get("title")) or name
    reference = _str(a.get("reference"))
    opsins = []
    if "tags" in tree.children:
        for site, node in tree["tags"].children.items():
            ds = node.to_dataset().isel(subject=i)
            for e, ens in enumerate(np.asarray(ds["ensemble"].values).astype(str)):
                opsin = _str(ds["opsin"].values[e])
                if opsin:
                    opsins.append(f"{ens} in {site}: {opsin}")
    nwb = pynwb.NWBFile(
        session_description=(
            f"{title}: simulated run of protocol {name!r} by engramlab; group {group!r}"
        ),
        identifier=str(uuid.uuid5(_NAMESPACE, f"{sha}:{seed}:{a['created']}:{s}")),
        session_start_time=created,
        session_id=_slug(name),
        experiment_description=(
            f"{title}. Simulation (engramlab virtual subjects, not animals)"
            + (f" of the study: {reference}" if reference else "")
        ),
        protocol=f"engramlab protocol {name!r}, sha256 {sha}",
        notes=_str(a.get("protocol_yaml")) or None,
        data_collection=(
            f"simulated by engramlab {_str(a.get('engramlab_version'))}, torch {_str(a.get('torch_version'))}; "
            f"run seed {seed}"
            + (f", subject weights seed {subject_seed}" if subject_seed is not None else "")
        ),
        keywords=["engramlab", "simulation", "engram", name],
        virus=("opsin expressed by tagged ensembles: " + "; ".join(opsins)) if opsins else None,
        subject=Subject(
            subject_id=sid,
            species=species,
            sex="U",
            date_of_birth=created,
            description=(
                f"virtual subject {s} of group {group!r} (engramlab simulation, not an animal); "
                "it exists from the start of the run, hence date_of_birth = session start"
            ),
        ),
    )
    if len(idx):
        for col, desc in (
            ("phase", "protocol phase"),
            ("epoch", "light epoch: off / on, or empty when the phase has no light epochs"),
            ("light", "light delivered"),
            ("stimulus", "stimuli presented, joined with + (empty: home cage)"),
        ):
            nwb.add_trial_column(name=col, description=desc)
        epoch = np.asarray(beh["epoch"].values, dtype=object).astype(str)[idx]
        light = np.asarray(beh["light"].values, dtype=bool)[idx]
        stim = np.asarray(beh["stimulus"].values, dtype=object).astype(str)[idx]
        for k in range(len(idx)):
            nwb.add_trial(
                start_time=start[k],
                stop_time=stop[k],
                phase=phase[k],
                epoch=epoch[k],
                light=bool(light[k]),
                stimulus=stim[k],
            )
        module = nwb.create_processing_module(
            name="behavior", description="behaviour of the virtual subject, one value per trial"
        )
        series = BehavioralTimeSeries(name="BehavioralTimeSeries")
        for m in measures:
            var = beh[m]
            series.add_timeseries(
                pynwb.TimeSeries(
                    name=_name(m),
                    data=np.asarray(var.values, dtype=np.float32)[idx],
                    unit=_str(var.attrs.get("units")) or "n.a.",
                    timestamps=start,
                    description=_str(var.attrs.get("long_name")) or m,
                )
            )
        module.add(series)
        lit = np.flatnonzero(light)
        if len(lit):
            table = TimeIntervals(
                name="light_epochs",
                description="light delivered to the tagged ensembles (one row per light-on trial)",
            )
            table.add_column(name="phase", description="protocol phase")
            table.add_column(name="epoch", description="light epoch")
            for k in lit:
                table.add_row(
                    start_time=start[k], stop_time=stop[k], phase=phase[k], epoch=epoch[k]
                )
            nwb.add_time_intervals(table)
    misc = _unit_tables(tree, i, idx, DynamicTable, VectorData)
    weights = _weight_table(tree, i, DynamicTable, VectorData)
    if weights is not None:
        misc.append(weights)
    if misc:
        module = nwb.create_processing_module(
            name="misc",
            description=(
                "simulated circuit: per site, a table of units (rates per trial, cell tags); "
                "weight_change: the norm of the synaptic weight change per projection"
            ),
        )
        for table in misc:
            module.add(table)
    return nwb, sid


def to_nwb(
    tree: xr.DataTree,
    directory: str | Path,
    *,
    species: str = DEFAULT_SPECIES,
    force: bool = False,
) -> list[Path]:
    """Write a circuit run ``tree`` as one NWB file per virtual subject; returns the files.

    Files go to ``directory/sub-<id>/sub-<id>_ses-<protocol>.nwb`` (DANDI layout) with
    ``engramlab_export.json`` at the top. ``species`` fills ``Subject.species`` (Latin
    binomial or NCBI taxonomy link). Raises :class:`~engramlab.errors.ExportError` when pynwb
    is missing, the store is not a circuit run, or ``directory`` exists (unless ``force`` and
    it holds a previous export).
    """
    pynwb, DynamicTable, VectorData = _pynwb()
    kind = _str(tree.attrs.get("subject_kind", "circuit"))
    if kind != "circuit":
        raise ExportError(
            f"NWB export is for circuit runs, and this store is a {kind!r} run; "
            "use --csv for its behaviour, criteria and weights"
        )
    if "behaviour" not in tree.children or "created" not in tree.attrs:
        raise ExportError("the store has no /behaviour node or no 'created' attribute to export")
    if not _SPECIES.fullmatch(species):
        raise ExportError(
            f"species {species!r} is neither a Latin binomial ('Mus musculus') nor an NCBI "
            "taxonomy link ('http://purl.obolibrary.org/obo/NCBITaxon_10090')"
        )
    directory = Path(directory)
    session = _slug(_str(tree.attrs.get("protocol_name")))
    n_sub = tree["behaviour"].sizes["subject"]
    written = []
    with staged_dir(directory, force=force) as tmp:
        for first, block in _blocks(tree):
            for i in range(block["behaviour"].sizes["subject"]):
                nwb, sid = _nwbfile(
                    block, i, first + i, n_sub, species, pynwb, DynamicTable, VectorData
                )
                rel = Path(f"sub-{sid}") / f"sub-{sid}_ses-{session}.nwb"
                (tmp / rel.parent).mkdir()
                with pynwb.NWBHDF5IO(str(tmp / rel), mode="w") as io:
                    io.write(nwb)
                written.append(rel)
        write_manifest(tmp, tree, "nwb", [str(r) for r in written])
    return [directory / r for r in written]
