"""equinotes: the helper package of the book *equinotes — making neural networks follow rules by
construction*.

One module per concept; import what a chapter needs, e.g. ``from equinotes import groups, claims``.

Core modules: ``utils`` (seeding, device), ``data`` (bundled MNIST), ``transforms`` (coordinate fields,
warp, compose), ``groups`` (groups and actions), ``equivariance`` (errors, asserts, symmetrization),
``claims`` (the ledger), ``training`` (the training loop), ``widgets`` (live and static explorations).
Chapter modules: ``models``, ``diagrams``, ``name_swap``, ``affine``, ``mesa``, ``periodic``,
``pointclouds``, ``registration``, ``registration_metrics``, ``dnfa``, ``steerable``, ``canonical``,
``thesis`` (the thesis-at-scale experiment of ``scripts/thesis_at_scale.py``).
"""

from importlib import import_module

__version__ = "0.1.0"

_SUBMODULES = (
    "utils",
    "data",
    "transforms",
    "groups",
    "equivariance",
    "claims",
    "training",
    "widgets",
    "models",
    "diagrams",
    "name_swap",
    "affine",
    "mesa",
    "periodic",
    "pointclouds",
    "registration",
    "registration_metrics",
    "dnfa",
    "steerable",
    "canonical",
    "thesis",
    "thesis_rigid",
    "alignment",
    "tables",
    "experiments",
)


def __getattr__(name):
    # Submodules load on first use, so `import equinotes` stays fast and a chapter pays only for what it uses.
    if name in _SUBMODULES:
        return import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'equinotes' has no attribute {name!r}")


__all__ = list(_SUBMODULES)
