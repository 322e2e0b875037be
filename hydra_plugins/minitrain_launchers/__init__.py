"""minitrain's Hydra plugins (Hydra builds launchers only from the `hydra_plugins` namespace): joblib that outlives a
killed worker. They import the optional joblib plugin, so they live outside the minitrain package."""
