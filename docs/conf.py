"""Sphinx configuration: pydata theme, MyST pages, an API reference from the docstrings and a
gallery of examples that run at build time.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (with the ``docs`` extra).
``RELUNET_DOCS_FULL=1`` runs the gallery at the full sizes instead of the small defaults.
"""

import os
import sys
from pathlib import Path

import relunet

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

ROOT = Path(__file__).resolve().parent.parent

project = "relunet"
author = "relunet contributors"
copyright = "relunet contributors"
release = version = relunet.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "plain_docstrings",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

# The docstrings are plain prose (rendered by plain_docstrings) or numpydoc sections (by numpydoc).

autosummary_generate = True
autosummary_imported_members = True
templates_path = ["_templates"]
# scikit-learn's own methods (and the metadata-routing setters it generates) are documented there
_SKLEARN_MEMBERS = ["get_params", "set_params", "score", "get_metadata_routing", "set_fit_request",
                    "set_partial_fit_request", "set_score_request"]
autodoc_default_options = {"members": True, "show-inheritance": True,
                           "exclude-members": ",".join(_SKLEARN_MEMBERS)}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False

# numpydoc renders the Parameters/Returns sections; members are listed by autosummary, not by it
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "reset_modules": ("matplotlib",),
    "within_subsection_order": "FileNameSortKey",
}
os.environ.setdefault("MPLBACKEND", "Agg")

html_theme = "pydata_sphinx_theme"
html_title = "relunet"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}

