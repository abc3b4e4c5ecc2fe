"""Running a checked experiment: its directory, its listeners, and the trials on Spark.

`ExperimentRun.execute` expands the repeats, opens the experiment directory (resuming what its
journal already holds), and runs the remaining trials: it starts the controller and the RPC
server, runs the Spark job of long-running tasks from a background thread (starting it again if
Spark loses it while trials remain), waits for the controller to finish, shuts everything down
in order, and writes the result table and plots.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from autoablation._core.backends import backend_in_force, check_backend
from autoablation._core.errors import ExperimentError, StudyError
from autoablation._core.trial import BASE, Trial, TrialResult, TrialStatus
from autoablation._driver import seams
from autoablation._driver.conf import task_cpus
from autoablation._driver.controller import Controller
from autoablation._driver.events import Listener, Listeners, LoggingListener
from autoablation._driver.gpus import gpus_per_task, task_profile
from autoablation._driver.jobs import JobSupervisor
from autoablation._driver.journal import DriverLog, ExperimentDir, JournalWriter
from autoablation._driver.losses import LossHistory
from autoablation._driver.options import AUTO, LAUNCH, Caller, RunOptions
from autoablation._driver.preflight import Preflight
from autoablation._driver.progress import ProgressListener
from autoablation._driver.rpc import serve_over_rpc
from autoablation._driver.schedule import LongestFirst
from autoablation._driver.sequential import SequentialPlanner
from autoablation._driver.spark import driver_hosts, is_local_master, task_slots, task_slots_known
from autoablation._driver.staging import stage_data
from autoablation._driver.tracking import MlflowListener, mlflow_wanted
from autoablation._driver.warmup import Warmup, job_environment, trials_use_keras
from autoablation._executor.runtime import TrialPolicy, TrialRuntime
from autoablation._executor.task import make_task
from autoablation._results.result import ExperimentResult
from autoablation._results.sequential import SequentialDesign
from autoablation._results.stats import METHOD
from autoablation._results.store import JournalState, default_dir
from autoablation._study.ablators import with_repeats
from autoablation._wire.frames import new_secret
from autoablation._wire.server import RpcServer

logger = logging.getLogger("autoablation")
_KEPT_ON_RESUME = (TrialStatus.OK, TrialStatus.FAILED, TrialStatus.TIMED_OUT)
"""Results a resume keeps; lost and cancelled trials run again."""


class ExperimentRun:
    """One run of a checked experiment on a Spark session.

    ``backend`` is the Keras backend every trial trains on (default: this process's); it is
    part of the fingerprint, so a resume under another one is refused. ``warmup`` is the job
    readying the workers while the driver checked the study, if one was started: the study's
    job waits for it.

    ``clock`` records, once the run is over, what `Timings` needs from it: ``data_s``,
    ``warmup_wait_s``, ``submitted`` (when the study's job was submitted, epoch seconds) and
    ``workers``.
    """

    def __init__(
        self,
        session: Any,
        checked: Preflight,
        train_fn: Callable[..., Any],
        options: RunOptions,
        *,
        seed: int,
        study: dict[str, Any],
        listener: Listener | None = None,
        caller: Caller = LAUNCH,
        backend: str | None = None,
        warmup: Warmup | None = None,
    ) -> None:
        self._warmup = warmup
        self.clock: dict[str, float] = {}
        self._backend = backend or check_backend(backend_in_force())
        self._sc = session.sparkContext
        self._caller = caller
        self._checked = checked
        self._train_fn = train_fn
        self._options = options
        self._seed = seed
        self._study = study
        self._listener = listener
        self.group_id = f"autoablation-{options.name}-{uuid.uuid4().hex[:8]}"
        self._planner: SequentialPlanner | None = None
        """Schedules a sequential study's repeats (``repeats="auto"``); None otherwise."""
        self._ablator = checked.ablator.name
        self._recorded = {
            **options.describe(),
            "ablator": checked.ablator.name,
            "effect": checked.ablator.effect,
        }
        """The options that describe the results (kept in the journal and study.json)."""
        conf = self._sc.getConf()  # checked here, before the experiment directory is touched
        self._gpus = gpus_per_task(conf, options.gpus_per_task)
        self._jobs = JobSupervisor(
            self._sc,
            self.group_id,
            max_job_restarts=options.max_job_restarts,
            profile=task_profile(self._sc, task_cpus(conf), self._gpus),
            environment=job_environment(
                self._backend,
                cpus=task_cpus(conf),
                preload=not self._gpus
                and trials_use_keras(
                    checked.parameters,
                    model=checked.recipe is not None,
                    generator=checked.dataset_generator is not None,
                ),
            ),
        )

    def execute(self) -> ExperimentResult:
        """Run every trial the experiment directory does not hold a result for.

        Raises:
            StudyError: The experiment directory holds another study, or an experiment that
                was neither resumed nor overwritten.
            ExperimentError: Spark kept failing, or the driver's machinery stopped; the
                error's ``result`` holds every trial that finished.
            KeyboardInterrupt: The driver was interrupted; the job group is cancelled first
                and the journal records every trial that finished.
        """
        options = self._options
        directory = ExperimentDir(options.experiment_dir or default_dir(options.name))
        fingerprint = {
            **self._checked.fingerprint,
            "optimization_key": options.optimization_key,
            "direction": options.direction,
            "vary_split": options.vary_split,
            "backend": self._backend,
        }
        state = directory.open(
            fingerprint, resume=options.resume, overwrite=options.overwrite, caller=self._caller
        )
        try:
            vary_split = _split_regime(state, options.vary_split)
            fingerprint["vary_split"] = self._recorded["vary_split"] = vary_split
            if options.repeats == AUTO:
                design = self._design(state)
                trials = with_repeats(
                    self._checked.trials, design.max_repeats, self._seed, vary_split=vary_split
                )
                self._planner = SequentialPlanner(
                    design,
                    trials,
                    [r for r in state.results.values() if r.status in _KEPT_ON_RESUME],
                    SequentialPlanner.looked_from(state.looks),
                )
            else:
                trials = with_repeats(
                    self._checked.trials, int(options.repeats), self._seed, vary_split=vary_split
                )
            with _sigterm_interrupts(self._caller):
                return self._execute(trials, directory, fingerprint, state)
        finally:
            directory.close()

    def _execute(
        self,
        trials: list[Trial],
        directory: ExperimentDir,
        fingerprint: dict[str, Any],
        state: Any,
    ) -> ExperimentResult:
        options = self._options
        wanted = {t.trial_id for t in trials}
        done = {
            trial_id: result
            for trial_id, result in state.results.items()
            if trial_id in wanted and result.status in _KEPT_ON_RESUME
        }
        planner = self._planner
        to_run = (
            [t for t in trials if t.trial_id not in done] if planner is None else planner.start()
        )
        workers, notes = self._workers(len(to_run))
        self.clock["workers"] = workers
        directory.write_study(
            {
                "name": options.name,
                "fingerprint": fingerprint,
                "options": self._recorded,
                "statistics": METHOD,
                "study": self._study,
                "trials": [t.to_dict() for t in trials],
                "projections": self._checked.projections,
                "notes": notes,
            }
        )
        for label, projections in self._checked.projections.items():
            logger.info(
                "trial %s trains with a learned projection where its removal cannot build "
                "as it is: %s",
                label,
                "; ".join(projections),
            )
        listeners: list[Listener] = []
        started = time.time()
        status = "failed"
        new: dict[str, TrialResult] = {}
        try:  # built one by one: if one fails, those built already are closed below
            listeners.append(DriverLog(directory.path / "driver.log"))
            if directory.stale_lock is not None:
                logger.warning(
                    "%s: taking over the lock that %s never released (a driver killed or "
                    "lost); its journal is the record of what ran",
                    directory.path,
                    directory.stale_lock,
                )
            journal = JournalWriter(
                directory,
                fingerprint=fingerprint,
                options=self._recorded,
                previous={k: v for k, v in state.results.items() if k in wanted},
                statistics=METHOD,
            )
            listeners.append(journal)
            listeners.extend(self._listeners())
            fan_out = Listeners(listeners)
            fan_out.experiment_started(options.name, to_run, len(done))
            if planner is not None:
                journal.design(planner.design.to_dict())
            if to_run:
                logger.info(
                    "%d of %d trials to run (%d done before) in %s",
                    len(to_run),
                    len(trials),
                    len(done),
                    directory.path,
                )
                new = {
                    r.trial.trial_id: r
                    for r in self._run_trials(
                        to_run,
                        workers,
                        fan_out,
                        directory,
                        LossHistory(sum(state.started.values()), state.requeued),
                    )
                }
            status = "finished" if self._jobs.failure is None else "stopped"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            Listeners(listeners).experiment_ended(status)
        result = ExperimentResult(
            options.name,
            [
                done.get(t.trial_id) or new[t.trial_id]
                for t in trials
                if t.trial_id in done or t.trial_id in new
            ],
            optimization_key=options.optimization_key,
            direction=options.direction,
            ablator=self._ablator,
            duration_s=time.time() - started,
            job_group=self.group_id if to_run else "",
            experiment_dir=directory.path,
            effect=self._checked.ablator.effect,
            projections=self._checked.projections,
            notes=notes,
            min_effect=options.min_effect,
            vary_split=self._recorded["vary_split"],
            sequential=None if planner is None else planner.design,
            backend=self._backend,
        )
        _write_plots(result, directory)
        if self._jobs.failure is not None:
            failure = self._jobs.failure
            raise ExperimentError(f"experiment {options.name!r} stopped: {failure}", result)
        return result

    def _design(self, state: JournalState) -> SequentialDesign:
        """The sequential design: the one a resumed journal fixed, or a new one."""
        if state.design is not None:
            return SequentialDesign.from_dict(state.design)
        options = self._options
        components = len({t.label for t in self._checked.trials if t.kind != BASE})
        if options.min_effect is None:  # RunOptions refuses it; mypy cannot know
            raise StudyError("repeats='auto' needs min_effect")
        return SequentialDesign(
            components, min_effect=options.min_effect, max_repeats=options.max_repeats
        )

    def _workers(self, trials: int) -> tuple[int, list[str]]:
        """How many tasks to start, and a note when that is more than Spark can run at once."""
        sc, asked = self._sc, self._options.num_workers
        slots = task_slots(sc, self._gpus)
        workers = min(asked or slots, trials)
        if asked is None or workers <= slots or not task_slots_known(sc):
            return workers, []
        per_task = f"{task_cpus(sc.getConf())} core(s)" + (
            f" and {self._gpus:g} GPU(s)" if self._gpus else ""
        )
        waiting = workers - slots
        note = (
            f"num_workers={asked} is more than the {slots} task slots Spark has (master "
            f"{sc.master}, {per_task} per task): at most {slots} trials run at once, and "
            f"{waiting} more task{'s wait' if waiting > 1 else ' waits'} for a free slot"
        )
        logger.warning(note)
        return workers, [note]

    def _listeners(self) -> list[Listener]:
        options = self._options
        listeners: list[Listener] = [
            LoggingListener(),
            ProgressListener(options.verbose, options.direction),
        ]
        if mlflow_wanted(options.mlflow):
            try:
                name = f"autoablation/{options.name}"
                params = {**self._recorded, "backend": self._backend}
                listeners.append(MlflowListener(name, params=params))
            except Exception as exc:  # tracking is never fatal
                logger.warning("MLflow tracking is off: %s", exc)
        if self._listener is not None:
            listeners.append(self._listener)
        return listeners

    def _runtime(self, directory: ExperimentDir) -> TrialRuntime:
        checked, options, sc = self._checked, self._options, self._sc
        data = checked.data
        if not {"dataset_function", "model_function"} & checked.parameters:
            data = None  # nothing on the executors reads it: no broadcast to pay for
        began = time.perf_counter()
        handle = (
            None if data is None else stage_data(sc, data, options.data_transport, options.data_dir)
        )
        self.clock["data_s"] = time.perf_counter() - began
        tensorboard = options.tensorboard_dir
        if tensorboard is None and is_local_master(str(sc.master)):
            tensorboard = str(directory.path / "tensorboard")
        return TrialRuntime(
            checked.recipe,
            handle,
            checked.dataset_generator,
            tensorboard,
            generator_features=checked.generator_features,
        )

    def _run_trials(
        self,
        trials: list[Trial],
        workers: int,
        listener: Listener,
        directory: ExperimentDir,
        history: LossHistory,
    ) -> list[TrialResult]:
        """Run the trials on ``workers`` Spark tasks; returns their results (every one, final).

        ``history`` carries the losses of the study's earlier runs into the controller's.
        """
        options, sc = self._options, self._sc
        bind_host, advertised_host = driver_hosts(sc)
        secret = new_secret()
        controller = Controller(
            trials,
            heartbeat_interval=options.heartbeat_interval,
            heartbeat_timeout=options.heartbeat_timeout,
            max_attempts=options.max_attempts,
            max_trial_retries=options.max_trial_retries,
            max_failures=options.max_failures,
            scheduler=(
                LongestFirst(
                    trials if self._planner is None else self._planner.universe,
                    self._checked.cost_hints,
                )
                if options.schedule == "longest_first"
                else None
            ),
            listener=listener,
            planner=None if self._planner is None else self._planner.plan,
            history=history,
        )
        server: RpcServer | None = None
        runtime: TrialRuntime | None = None
        try:
            server = serve_over_rpc(controller, secret, host=bind_host)
            runtime = self._runtime(directory)
            task = make_task(
                seams.task_route((advertised_host, server.address[1])),
                secret,
                self._train_fn,
                runtime,
                options.optimization_key,
                is_local_master(str(sc.master)),
                TrialPolicy(options.trial_timeout, options.fatal_errors, exit_when_stuck=True),
                self._backend,
            )
            controller.start()
            server.start()
            logger.info(
                "experiment %r: %d trials on %d workers, Keras on %s, driver at %s:%d",
                options.name,
                len(trials),
                workers,
                self._backend,
                advertised_host,
                server.address[1],
            )
            description = f"autoablation {options.name!r}: {self._ablator}, {len(trials)} trials"
            self._await_warmup()
            self._jobs.run(controller, task, workers, description)
        finally:
            if server is not None:
                server.stop()
            controller.stop()
            if runtime is not None:
                runtime.release()
        return controller.results()

    def _await_warmup(self) -> None:
        """Wait for the workers' warm-up, so the study's tasks find them idle and warmed."""
        began = time.time()
        if self._warmup is not None:
            self._warmup.wait()
        self.clock["submitted"] = time.time()
        self.clock["warmup_wait_s"] = self.clock["submitted"] - began


def _split_regime(state: JournalState, wanted: bool) -> bool:
    """Whether repeats vary the split: as asked, or as a resumed journal's study did.

    A journal written before ``vary_split`` existed ran every repeat on the study's one split;
    resuming it keeps that regime (a different recorded one is refused by the fingerprint).
    """
    if state.fingerprint is not None and "vary_split" not in state.fingerprint:
        if wanted:
            logger.info("the journal predates vary_split: its repeats keep the study's one split")
        return False
    return wanted


@contextmanager
def _sigterm_interrupts(caller: Caller = LAUNCH) -> Iterator[None]:
    """Make SIGTERM (spark-submit killed, a scheduler's stop) stop the study as Ctrl-C does.

    Only the main thread can own a signal handler; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: Any) -> None:
        logger.warning(
            "SIGTERM: stopping the study; run %s again with %s to finish it",
            caller.function,
            caller.spell("resume", "True"),
        )
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _write_plots(result: ExperimentResult, directory: ExperimentDir) -> None:
    """Write the plots; a plotting problem never costs the result."""
    if not any(t.status is TrialStatus.OK for t in result.trials):
        return
    try:
        result.plot(directory.path / "plots" / "effects.png")
    except Exception as exc:
        logger.warning("could not write the plots: %s", exc)
