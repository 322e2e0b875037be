"""minitrain's Hydra plugins: Hydra builds launchers only from the `hydra_plugins` namespace (minitrain/launchers.py)."""
