"""Build the site so that it renders maths and widgets with no network at all.

Fetches MathJax 3, the Jupyter widgets HTML manager and RequireJS from the npm registry (``npm pack``)
into ``_offline_assets/`` (not committed), derives a config from ``_config.yml`` that serves them
locally instead of from CDNs, and builds into ``_build/html`` (or ``--path-output``).

    python scripts/build_offline.py [--path-output DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "_offline_assets"
PACKAGES = {  # npm package -> (files to keep from it, folder under _offline_assets)
    "mathjax@3.2.2": ("es5", "mathjax"),
    "@jupyter-widgets/html-manager@1.0.15": ("dist", "@jupyter-widgets/html-manager"),
    "requirejs@2.3.8": ("require.js", "requirejs"),
}
MATHJAX = "mathjax/es5/tex-chtml-full.js"
WIDGET_SCRIPTS = {
    "requirejs/require.js": {},
    "@jupyter-widgets/html-manager/dist/embed-amd.js": {},
}
# The widget manager's stylesheet asks for its icon fonts relative to the page, and the pages live in
# book/: html_extra_path copies this folder's contents to the site root, so they land in book/@jupyter-
# widgets/.
STATIC = ASSETS / "static"  # served by html_static_path, under _static/
EXTRA = ASSETS / "extra"


def fetch_assets() -> Path:
    """Unpack the npm packages into ``_offline_assets`` once; later calls reuse them."""
    if EXTRA.exists() and all(
        (STATIC / folder).exists() for _, folder in PACKAGES.values()
    ):
        return ASSETS
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed to fetch the offline assets (install Node.js)")
    STATIC.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec, (keep, folder) in PACKAGES.items():
            subprocess.run(
                ["npm", "pack", spec, "--silent"],
                cwd=tmp,
                check=True,
                stdout=subprocess.PIPE,
            )
            tgz = next(
                Path(tmp).glob(
                    f"{spec.split('@')[-2].lstrip('@').replace('/', '-')}*.tgz"
                )
            )
            with tarfile.open(tgz) as tar:
                tar.extractall(tmp, filter="data")
            target = STATIC / folder
            if target.exists():
                shutil.rmtree(target)
            source = Path(tmp) / "package" / keep
            if source.is_dir():
                shutil.copytree(source, target / keep)
            else:
                target.mkdir(parents=True)
                shutil.copy(source, target / keep)
            shutil.rmtree(Path(tmp) / "package")
    # Its two bundled stylesheets use two different relative folders for the same fonts.
    for fonts in (
        EXTRA / "book" / "@jupyter-widgets" / "html-manager" / "dist",
        EXTRA / "book" / "@jupyter-widgets",
    ):
        fonts.mkdir(parents=True, exist_ok=True)
        for font in (STATIC / "@jupyter-widgets" / "html-manager" / "dist").iterdir():
            if font.suffix in (".woff", ".woff2", ".ttf", ".eot", ".svg"):
                shutil.copy(font, fonts / font.name)
    return ASSETS


def offline_config(path: Path) -> Path:
    """Write a copy of ``_config.yml`` that serves maths and widgets from ``_offline_assets``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx_config["html_static_path"] = [str(STATIC)]
    sphinx_config["html_extra_path"] = [str(EXTRA)]
    sphinx_config["mathjax_path"] = MATHJAX
    sphinx_config["nb_ipywidgets_js"] = WIDGET_SCRIPTS
    if (
        "local_extensions" in config["sphinx"]
    ):  # paths are relative to the config file: make them absolute
        config["sphinx"]["local_extensions"] = {
            k: str(ROOT / v) for k, v in config["sphinx"]["local_extensions"].items()
        }
    config["bibtex_bibfiles"] = [
        str(ROOT / f) for f in config.get("bibtex_bibfiles", [])
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--path-output",
        default=str(ROOT),
        help="folder that receives _build/ (default: the repo)",
    )
    parser.add_argument(
        "--toc",
        default=str(ROOT / "_toc.yml"),
        help="table of contents (default: _toc.yml)",
    )
    args = parser.parse_args(argv)
    fetch_assets()
    config = offline_config(Path(args.path_output) / "_build" / "_config_offline.yml")
    cmd = [
        "jupyter-book",
        "build",
        str(ROOT),
        "--config",
        str(config),
        "--path-output",
        args.path_output,
        "--toc",
        args.toc,
        "-W",
        "-n",
        "--keep-going",
        "--all",
    ]
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
