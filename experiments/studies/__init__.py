"""The studies: what each experiment shows, computed from its runs.

An experiment's config names its study (`study = "init"`: experiments/studies/init.py); without one
it gets report.generic_report. A study module defines one of:

    analyze(cfg, runs, run_dir) -> report.Report
        for an experiment that trains through runner.run (every variant, every implementation in
        cfg.impls, from the same θ_0): called by main_job after the runs, with runner.run's list of
        VariantRuns (each with .data, the Dataset it trained on, and .proba(result), ŷ of a run's
        θ_N) and the run directory <logdir>/<experiment> (costs.png is already there for a sweep).
        It writes its own figures into run_dir and returns the Report (figures as file names).

    run_study(cfg, run_dir, impls, device) -> report.Report
        for an experiment that does not train through runner.run (vanishing gradients at θ_0, the
        diagnosis table, early stopping's two callbacks): it does all its work itself, in run_dir
        (already cleared), and sets Report.agree when it compares implementations.

cfg.study_args (a TOML table, or None) holds the study's own settings; a study reads it with
args(cfg, defaults), which refuses keys it does not know.
"""
import importlib


def load(name):
    """The study module experiments.studies.<name>. ValueError naming the known ones when there is none."""
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        import pkgutil
        import os
        known = sorted(m.name for m in pkgutil.iter_modules([os.path.dirname(__file__)]))
        raise ValueError(f"no study {name!r} in experiments/studies (known: {', '.join(known)})") from None


def trains(cfg):
    """Whether cfg's experiment trains through runner.run (no study, or a study with analyze)."""
    return cfg.study is None or not hasattr(load(cfg.study), "run_study")


def majority(Y):
    """The accuracy of predicting the more frequent of the 0/1 labels Y (1, m) everywhere: the chance
    level a trained classifier must beat."""
    share = float(Y.mean())
    return max(share, 1 - share)


def args(cfg, defaults):
    """cfg.study_args over `defaults` ({key: default value}): a dict with every key of defaults.
    ValueError for a key that defaults does not have, naming the known keys."""
    given = dict(cfg.study_args or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"{cfg.name}: unknown study_args key(s) {unknown} for study {cfg.study!r}; "
                         f"known: {sorted(defaults)}")
    return {**defaults, **given}
