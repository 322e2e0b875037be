"""`hydra/launcher=joblib` as minitrain configures it (configs/hydra/launcher/joblib.yaml): Hydra's joblib launcher
that survives a killed worker process. The logic is in _survive.py beside it; Hydra needs the class to live here.

Hydra imports every module of `hydra_plugins` when it starts, so this one stays light, and defines nothing
when the joblib plugin (pip install "minitrain[scale]") is not installed.
"""

from __future__ import annotations

from collections.abc import Sequence

try:
    from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher as _HydraJoblibLauncher
except ImportError:  # an optional extra: without it, hydra/launcher=joblib is not offered at all
    _HydraJoblibLauncher = None

if _HydraJoblibLauncher is not None:

    class MinitrainJoblibLauncher(_HydraJoblibLauncher):
        """Hydra's joblib launcher (the same options); a worker process that dies fails its own job only."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int):
            from hydra_plugins.minitrain_launchers._survive import launch_surviving_killed_workers

            return launch_surviving_killed_workers(self, job_overrides, initial_job_idx)
