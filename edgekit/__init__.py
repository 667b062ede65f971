"""edgekit: put dynamic lightweight CNNs on edge devices.

Importing this package never imports torch: the runtimes, bench, budget and report layers
must work on a device that only has numpy and one inference runtime installed.
"""

__version__ = "0.1.0"

from edgekit.errors import EdgekitError

__all__ = ["EdgekitError", "__version__"]
