"""A tool module that imports where the command runs but not on OpenRLHF's Ray workers, as a package installed on
the head node and missing from the workers' image would (``driver_only_tool:count_pixels``)."""

import sys

_ray = sys.modules.get("ray")
if _ray is not None and _ray._private.worker.global_worker.mode == _ray.WORKER_MODE:
    raise ModuleNotFoundError("No module named 'driver_only_tool' (not installed on this worker)")

from tool_fixtures import count_pixels  # noqa: E402

__all__ = ["count_pixels"]
