"""Imports every zoo family so their builders register. Add new families here."""

import importlib

for _family in ("micronet", "dyrelu_models", "dyconv_models", "mobilenetv3", "video", "temporal_detectors", "moment_retrieval", "motion_boundary"):
    try:
        importlib.import_module(f"edgekit.models.{_family}")
    except ModuleNotFoundError as exc:  # a family not written yet; never hide a missing dependency
        if exc.name != f"edgekit.models.{_family}":
            raise
