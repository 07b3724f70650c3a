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


def test_every_module_is_reachable_as_an_attribute_and_on_the_api_page():
    """`equinotes.<module>` works for every module (lazy import), and the API page documents it."""
    from pathlib import Path

    api = (Path(__file__).resolve().parents[1] / "book" / "api.md").read_text()
    names = [info.name for info in pkgutil.iter_modules(equinotes.__path__)]
    public = [name for name in names if not name.startswith("_")]
    assert sorted(public) == sorted(equinotes.__all__), (
        "equinotes._SUBMODULES must list every public module"
    )
    for name in public:
        assert getattr(equinotes, name).__name__ == f"equinotes.{name}"
        assert f".. automodule:: equinotes.{name}" in api, f"book/api.md lacks {name}"
