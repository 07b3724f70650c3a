"""The package's public surface: what the API page (automodule :members:, which follows __all__) shows."""

import importlib
import inspect
import pkgutil

import equinotes


def test_every_public_function_and_class_is_exported():
    missing = {}
    for info in pkgutil.iter_modules(equinotes.__path__):
        module = importlib.import_module(f"equinotes.{info.name}")
        defined_here = [
            name
            for name, obj in vars(module).items()
            if not name.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == module.__name__
        ]
        exported = getattr(module, "__all__", None)
        absent = (
            defined_here
            if exported is None
            else [name for name in defined_here if name not in exported]
        )
        if absent:
            missing[info.name] = absent
    assert not missing, (
        f"public names missing from __all__ (and so from the API page): {missing}"
    )
