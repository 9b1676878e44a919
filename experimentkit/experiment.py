"""``Experiment``: the root ingredient, with a main function, observers and a command line."""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Sequence
from typing import Any, Callable, Optional

from .errors import ObserverError
from .ingredient import Ingredient, _caller_globals_of_user

__all__ = ["Experiment"]


class Experiment(Ingredient):
    """An experiment: configuration, captured functions, commands, and the observers that record runs."""

    def __init__(
        self,
        name: Optional[str] = None,
        ingredients: Sequence[Ingredient] = (),
        interactive: bool = False,
        base_dir: Optional[str] = None,
        additional_host_info: Optional[list] = None,
        additional_cli_options: Optional[list] = None,
        save_git_info: bool = True,
    ):
        globs = _caller_globals_of_user()
        if name is None:
            if interactive:
                raise RuntimeError("name is required in interactive mode.")
            mainfile = globs.get("__file__")
            if mainfile is None:
                raise RuntimeError(
                    "Defining an experiment in interactive mode! If you still want to run "
                    "this experiment, pass interactive=True and a name."
                )
            name = os.path.basename(mainfile)
            for ext in (".py", ".pyc"):
                if name.endswith(ext):
                    name = name[: -len(ext)]
        super().__init__(
            name,
            ingredients,
            interactive=interactive,
            _caller_globals=globs,
            base_dir=base_dir,
            save_git_info=save_git_info,
        )
        self._module_name = globs.get("__name__")  # to pickle it by reference (pickling.py)
        self._module_file = globs.get("__file__")
        self.config_path = ""
        self.interactive = interactive
        self.default_command: Optional[str] = None
        self.observers: list = []
        self._last_run: Any = None
        # Progress bars (tqdm's "\r" updates) are folded to their final state before storage; set
        # ``ex.captured_out_filter = None`` to store the raw output as Sacred does by default.
        from .output import apply_backspaces_and_linefeeds

        self.captured_out_filter: Optional[Callable[[str], str]] = apply_backspaces_and_linefeeds
        self.option_hooks: list = []
        self.metric_goals: dict = {}  # metric name -> "min" | "max", copied into every run's info
        from .host_info import check_additional_host_info

        self.additional_host_info = list(additional_host_info or [])
        check_additional_host_info(self.additional_host_info)
        self.additional_cli_options = list(additional_cli_options or [])
        from .commandline import commands as builtin

        for function in (
            builtin.print_config,
            builtin.print_dependencies,
            builtin.save_config,
            builtin.print_named_configs,
        ):
            self.command(function, unobserved=True)
        _prepare_runs()

    def __reduce__(self) -> tuple:
        """Pickled by reference (module, name, file), so worker processes can receive it."""
        from .pickling import reduce_experiment

        return reduce_experiment(self)

    # -- entry points -----------------------------------------------------------------------------
    def main(self, function: Callable) -> Any:
        """Decorator: the function run by default (``python script.py`` / ``ex.run()``)."""
        captured = self.command(function)
        self.default_command = captured.__name__
        return captured

    def automain(self, function: Callable) -> Any:
        """Like ``main``, and run the command line right away when the script is executed directly."""
        captured = self.main(function)
        if function.__module__ == "__main__":
            import __main__

            if not hasattr(__main__, "__file__") or self.interactive:
                raise RuntimeError(
                    "Cannot use @ex.automain decorator in interactive mode. Use @ex.main instead."
                )
            self.run_commandline()
        return captured

    def option_hook(self, function: Callable) -> Callable:
        """Decorator: ``f(options)`` sees (and may change) the command-line options of every run."""
        if "options" not in inspect.signature(function).parameters:
            raise KeyError("option_hook functions must have an argument called 'options'")
        self.option_hooks.append(function)
        return function

    def post_process_name(self, name: str, ingredient: Ingredient) -> str:
        """Commands and named configs of the experiment itself are named without its prefix."""
        if ingredient is self:
            return name[len(self.path) + 1 :]
        return name

    # -- running ----------------------------------------------------------------------------------
    def run(
        self,
        command_name: Optional[str] = None,
        config_updates: Optional[dict] = None,
        named_configs: Sequence[str] = (),
        info: Optional[dict] = None,
        meta_info: Optional[dict] = None,
        options: Optional[dict] = None,
    ) -> Any:
        """Run a command (the main function by default) and return the finished ``Run``."""
        run = self.resolve(command_name, config_updates, named_configs, info, meta_info, options)
        run()
        return run

    def resolve(
        self,
        command_name: Optional[str] = None,
        config_updates: Optional[dict] = None,
        named_configs: Sequence[str] = (),
        info: Optional[dict] = None,
        meta_info: Optional[dict] = None,
        options: Optional[dict] = None,
    ) -> Any:
        """Build the ``Run`` of a command with its final config, without starting it."""
        from .commandline.options import apply_options, default_option_values, gather_options
        from .errors import UsageError
        from .initialize import create_run

        command_name = command_name or self.default_command
        if command_name is None:
            raise UsageError(
                "No command found to be run. Specify a command or define a main function "
                "with @ex.main or @ex.automain."
            )
        all_options = default_option_values(gather_options(self))
        all_options.update(options or {})
        for hook in self.option_hooks:
            hook(options=all_options)
        run = create_run(
            self,
            command_name,
            config_updates,
            named_configs,
            force=bool(all_options.get("--force")),
            options=all_options,
            info=info,
            meta_info=meta_info,
        )
        apply_options(run, all_options, self)
        run._experiment = self
        self.current_run = run
        return run

    _create_run = resolve  # Sacred's name for it, used by scripts that build a run without running it

    def sweep(self, space: Optional[dict] = None, **kwargs: Any) -> Any:
        """Run a sweep over ``space`` (see :func:`experimentkit.sweep.api.sweep` and docs/sweeps.md);
        returns the ``SweepResult`` with every run's outcome."""
        from .sweep.api import sweep

        return sweep(self, space, **kwargs)

    def optimize(
        self, objective: str, trials: int, space: dict, direction: str = "minimize", **kwargs: Any
    ) -> Any:
        """Let an Optuna study propose ``trials`` configs from ``space``, each a recorded run
        (see :func:`experimentkit.sweep.optuna.optimize`); returns the study."""
        from .sweep.optuna import optimize

        return optimize(self, objective=objective, trials=trials, space=space, direction=direction, **kwargs)

    def get_config(
        self,
        config_updates: Optional[dict] = None,
        named_configs: Sequence[str] = (),
        command_name: Optional[str] = None,
        force: bool = False,
    ) -> dict:
        """The final config a run with these updates would get, without running anything.

        Pass ``seed`` in the updates to make the result fully deterministic (otherwise a seed is drawn).
        """
        from .initialize import resolve_config

        return resolve_config(
            self, command_name or self.default_command, config_updates, named_configs, force
        ).config

    def run_commandline(self, argv: Any = None) -> Any:
        """Parse ``argv`` (``sys.argv`` by default) as ``[COMMAND] [with UPDATE...] [OPTIONS]`` and run."""
        from .commandline.main import run_commandline

        return run_commandline(self, argv)

    def get_usage(self, program_name: Optional[str] = None) -> tuple:
        """``(short_usage, long_usage, internal_usage)`` help texts of the command line."""
        from .commandline.main import get_usage

        return get_usage(self, program_name)

    def get_default_options(self) -> dict:
        """Every command-line option with its default value (``{"--flag": False or None}``)."""
        from .commandline.options import default_option_values, gather_options

        return default_option_values(gather_options(self))

    # -- delegation to the current run ------------------------------------------------------------
    @property
    def current_run(self) -> Any:
        """This experiment's run active in the calling context (runs in other threads or asyncio
        tasks have their own), else the run this experiment built last."""
        from .context import own_run

        run = own_run()
        if run is not None and getattr(run, "_experiment", None) is self:
            return run
        return self._last_run

    @current_run.setter
    def current_run(self, run: Any) -> None:
        self._last_run = run

    def _require_run(self) -> Any:
        if self.current_run is None:
            raise RuntimeError("No run is active: call this from inside a captured function of a run")
        return self.current_run

    @property
    def info(self) -> dict:
        """The current run's ``info`` dict (sent to observers at every heartbeat)."""
        return self._require_run().info

    def open_resource(self, filename: str, mode: str = "r") -> Any:
        """Open an input file and record it as a resource of the current run."""
        return self._require_run().open_resource(filename, mode)

    def add_resource(self, filename: str, copy: Optional[bool] = None) -> None:
        """Record an input file of the current run (``copy=False``: its path and md5 only)."""
        self._require_run().add_resource(filename, copy)

    def add_artifact(
        self,
        filename: str,
        name: Optional[str] = None,
        metadata: Optional[dict] = None,
        content_type: Optional[str] = None,
    ) -> None:
        """Store a file produced by the current run."""
        self._require_run().add_artifact(filename, name, metadata, content_type)

    def log_scalar(
        self, name: str, value: Any, step: Optional[int] = None, goal: Optional[str] = None
    ) -> None:
        """Log a metric point to the current run (``goal``: see ``metric_goal``)."""
        self._require_run().log_scalar(name, value, step, goal=goal)

    def metric_goal(self, name: str, goal: str) -> None:
        """Declare that lower (``"min"``) or higher (``"max"``) values of the metric ``name`` are
        better; every run records it, so ``experimentkit best`` and the plots need no ``--min``."""
        from .run import check_goal

        self.metric_goals[name] = check_goal(goal)


def _prepare_runs() -> None:
    """Import what every run uses and gather the built-in and observer plugins' options now, when
    an experiment is defined (Sacred's import and ``Experiment()`` do the same), so that ``run()``
    pays only for the run itself.  A plugin that cannot be loaded, or two options claiming one
    flag, still raise when a run gathers its options, as before: failures are not remembered."""
    from . import initialize, run, seeding  # noqa: F401
    from .commandline.options import gather_options
    from .config import readonly  # noqa: F401
    from .observers import sharing  # noqa: F401

    with contextlib.suppress(ObserverError, ValueError):
        gather_options(None)


def gather_command_line_options(filter_disabled: Optional[bool] = None) -> list:
    """The built-in command-line options and those of installed observer plugins (Sacred's helper;
    ``filter_disabled`` is accepted for Sacred code: every listed option is available)."""
    from .commandline.options import gather_options

    return gather_options(None)
