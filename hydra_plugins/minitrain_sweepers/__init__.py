"""minitrain's Hydra sweepers (Hydra builds sweepers only from the `hydra_plugins` namespace): `hydra/sweeper=optuna`,
a hyper-parameter search on current Optuna. It imports the optional Optuna, so it lives outside the minitrain package."""
