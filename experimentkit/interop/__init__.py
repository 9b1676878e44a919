"""Moving runs between experimentkit and other tools (TensorBoard, MLflow), both ways.

* :mod:`.recording` writes a finished run that came from elsewhere into any store, through that
  store's own observer, so an imported run is stored exactly like a recorded one;
* :mod:`.tensorboard` exports runs as event files, imports logdirs, and mirrors a live run
  (``--tensorboard DIR``);
* :mod:`.mlflow` imports from and exports to an MLflow tracking server or store.

Each tool's library is imported only inside these modules, and only when they are used.
"""
