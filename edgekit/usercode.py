"""Import a user's Python file by path (a model factory, a metric): one place for the module name, the
import and its one-line error. No torch."""

from __future__ import annotations

import importlib.util
import os
import sys

from edgekit.errors import EdgekitError


def import_file(path: str, prefix: str = "edgekit_user_"):
    """The module at `path`, registered in sys.modules as `prefix` + its stem; EdgekitError (one line)
    when it is missing or its import raises."""
    if not os.path.isfile(path):
        raise EdgekitError(f"{'model' if prefix == 'edgekit_user_' else 'metric'} file not found: {path}")
    mod_name = prefix + os.path.splitext(os.path.basename(path))[0]
    module_spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[mod_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise EdgekitError(f"importing {path} failed: {type(exc).__name__}: {exc}") from None
    return module
