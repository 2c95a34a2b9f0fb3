"""``textenvs bench``: run envs × agents × seeds, then print the ranked table and write summaries and plots.

Examples::

    textenvs bench --quick                                       # the quick start benchmark (benchmarks/quick/)
    textenvs bench --envs textenvs/Translation-v0 --agents random,greedy,ppo --seeds 0,1,2 \\
        --budget 20000 --eval-examples 200 --out results/translation
    textenvs bench --config my_bench.json --backend ray --address auto
    textenvs bench --aggregate results/translation               # re-render tables and plots from the JSON files
    textenvs bench --list                                        # envs and agents, and which agents can run here

A ``--config`` file is a JSON object whose keys are the long option names (``"envs"``, ``"eval-examples"`` or
``"eval_examples"``, ...); lists may replace comma-separated strings. Options given on the command line override it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rich.console import Console

if TYPE_CHECKING:
    from agents.bench.execution import RunSpec

QUICK_CONFIG = Path(__file__).resolve().with_name("quick_config.json")
"""The quick start benchmark's settings (``--quick``), shipped inside the package so an installed wheel has them;
documented in ``benchmarks/quick/README.md``."""

DEFAULTS: dict[str, Any] = {
    "envs": None, "agents": None, "seeds": "0", "budget": 0, "eval_examples": None, "eval_batch": 16,
    "out": "results/bench", "backend": "local", "workers": 1, "address": None, "cpus_per_run": 1.0,
    "gpus_per_run": 0.0, "agent_config": {}, "env_kwargs": {}, "train_env_kwargs": {},
    "skip_unavailable": False, "progress": True,
    "save_policies": True, "eval_every": None, "eval_curve_examples": 100, "eval_curve_split": "validation",
    "extra_scorers": [],
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textenvs bench", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run envs x agents x seeds: each agent learns for --budget env steps, is evaluated on the "
                    "env's test split, and writes a results JSON and a predictions JSONL per run under --out; then "
                    "the runs are ranked per env (mean and 95% CI over seeds) and plotted.",
        epilog=__doc__.split("\n\n", 1)[1])
    # Every option defaults to None so a --config file can fill what the command line leaves out (see DEFAULTS).
    parser.add_argument("--envs", help="comma-separated env ids, e.g. textenvs/Translation-v0,textenvs/Dialogue-v0")
    parser.add_argument("--agents", help="comma-separated agent names (see --list) or module:Class paths")
    parser.add_argument("--seeds", help="comma-separated seeds (default 0)")
    parser.add_argument("--budget", type=_budget, help="training budget per run in env steps (tokens); 0 evaluates "
                                                       "the agents as built (default 0); or a JSON object of one "
                                                       "budget per env id, naming every env")
    parser.add_argument("--eval-examples", type=int, help="evaluate on the first N test examples "
                                                          "(default: the whole test split)")
    parser.add_argument("--eval-batch", type=int, help="episodes generated together during evaluation (default 16)")
    parser.add_argument("--out", help="results directory (default results/bench)")
    parser.add_argument("--backend", choices=["local", "ray"], help="where runs execute (default local)")
    parser.add_argument("--workers", type=int, help="local backend: parallel worker processes (default 1: "
                                                    "sequential, in this process)")
    parser.add_argument("--address", help="ray backend: cluster address for ray.init (default: start a local "
                                          "Ray instance)")
    parser.add_argument("--cpus-per-run", type=float, help="CPUs per Ray task and torch threads per worker "
                                                           "(default 1)")
    parser.add_argument("--gpus-per-run", type=float, help="GPUs per Ray task (default 0)")
    parser.add_argument("--agent-config", type=_json_object, help="JSON object: agent name -> constructor kwargs, "
                                                                  "e.g. '{\"ppo\": {\"num_envs\": 8}}'")
    parser.add_argument("--env-kwargs", type=_json_object,
                        help="JSON object of env kwargs for every env; a key that is an env id holds kwargs for "
                             "that env only, e.g. '{\"max_new_tokens\": 24, \"textenvs/Translation-v0\": "
                             "{\"dataset\": \"data/multi30k\"}}'")
    parser.add_argument("--train-env-kwargs", type=_json_object,
                        help="JSON object of env kwargs for the agents' training envs only, merged over "
                             "--env-kwargs (same form); evaluation never gets them, e.g. a shaping reward: "
                             "'{\"turn_reward\": 0.1}'")
    parser.add_argument("--skip-unavailable", action="store_true", default=None,
                        help="leave out agents whose code or dependencies cannot be imported (and say why) "
                             "instead of stopping")
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                        help="no progress bars")
    parser.add_argument("--no-save-policies", dest="save_policies", action="store_false", default=None,
                        help="do not keep the trained policies (config key save_policies: false). By default each "
                             "PPO / GRPO-family run saves its policy (save_pretrained: safetensors, config, "
                             "tokenizer) under OUT/policies/<run>/ so a leaderboard can verify its predictions "
                             "(submit --model); the quick start's tiny v2 models take 4.6 MB each, 124.5 MB "
                             "for its 27 RL runs")
    _add_measurement_options(parser)
    parser.add_argument("--config", type=Path, help="JSON file of options (keys are the long option names)")
    parser.add_argument("--quick", action="store_true",
                        help="the quick start benchmark (settings: agents/bench/quick_config.json, inside the "
                             "package; see benchmarks/quick/README.md); other options override it")
    parser.add_argument("--aggregate", metavar="DIR", type=Path,
                        help="only re-render the tables and plots of an existing results directory")
    parser.add_argument("--list", action="store_true", help="list env ids and agents, then exit")
    return parser


def _add_measurement_options(parser: argparse.ArgumentParser) -> None:
    """What is measured beside the final test metrics: the eval curve during learning and extra scorers."""
    parser.add_argument("--eval-every", type=int, metavar="N",
                        help="also evaluate each policy greedily every N env steps of learning, on held-out "
                             "examples (and at step 0 and the end): the eval curve, from which the tables add the "
                             "steps to half the warm-start-to-ceiling gap and the curve's AUC (default: off)")
    parser.add_argument("--eval-curve-examples", type=int, metavar="N", help="the eval curve's examples: the first "
                        f"N of --eval-curve-split (default {DEFAULTS['eval_curve_examples']})")
    parser.add_argument("--eval-curve-split", metavar="NAME", help="the eval curve's split "
                        f"(default {DEFAULTS['eval_curve_split']}; never train)")
    parser.add_argument("--extra-scorers", metavar="NAMES",
                        help="comma-separated registered scorers also computed on the test predictions, recorded "
                             "as <scorer>/<metric> and shown in the tables, e.g. bleu,chrf (default: none)")


def _budget(text: str) -> int | dict[str, Any]:
    """``--budget``: a whole number of env steps, or a JSON object of env id -> env steps."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return _json_object(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a whole number of env steps or a JSON object of env id -> env "
                                         f"steps, got {text!r}") from None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text!r}") from error
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {type(value).__name__}: {text!r}")
    return value


def resolve_options(args: argparse.Namespace) -> dict[str, Any]:
    """DEFAULTS, overridden by the --quick / --config file, overridden by options given on the command line."""
    options = dict(DEFAULTS)
    files = ([QUICK_CONFIG] if args.quick else []) + ([args.config] if args.config else [])
    for path in files:
        if not path.is_file():
            raise ValueError(f"Config file {path} not found.")
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"Config file {path} is not valid JSON: {error}") from error
        if not isinstance(loaded, dict):
            raise ValueError(f"Config file {path} must hold a JSON object, got {type(loaded).__name__}.")
        for key, value in loaded.items():
            name = key.replace("-", "_")
            if name not in DEFAULTS:
                raise ValueError(f"Unknown option {key!r} in {path}; options: {', '.join(sorted(DEFAULTS))}.")
            options[name] = value
    options.update({key: value for key, value in vars(args).items() if key in DEFAULTS and value is not None})
    for name in ("envs", "agents", "seeds", "extra_scorers"):
        value = options[name]
        if isinstance(value, str):
            options[name] = [item.strip() for item in value.split(",") if item.strip()]
    try:
        options["seeds"] = [int(seed) for seed in options["seeds"] or []]
    except (TypeError, ValueError) as error:
        raise ValueError(f"seeds must be integers, got {options['seeds']!r}.") from error
    for name in ("envs", "agents"):
        if not options[name]:
            raise ValueError(f"No {name} given: pass --{name} (see --list) or --quick.")
    return options


def _agent_config_for(agents: Sequence[str], agent_config: dict[str, Any], console: Console) -> dict[str, Any]:
    """The entries of ``agent_config`` for the agents that run. Entries for other known agents are left out with a
    note (a config file may cover more agents than one invocation runs); an unknown name is an error."""
    from agents.registry import agent_class

    unused = [name for name in agent_config if name not in agents]
    for name in unused:
        try:
            agent_class(name)
        except KeyError:
            raise  # a misspelt agent name: the registry's message lists the real ones
        except Exception:  # known but not importable here: it was skipped or not asked for
            pass
    if unused:
        console.print(f"[dim]agent config for {', '.join(unused)} unused: not benchmarked in this run[/dim]")
    return {name: config for name, config in agent_config.items() if name in agents}


def render_results(out_dir: str | Path, console: Console) -> dict[str, Path]:
    """Aggregate every run in ``out_dir``: print the ranked tables, write ``summary.md``, ``summary.csv`` and the
    plots; returns the paths written."""
    from agents.bench.aggregate import print_tables, summarize_runs, write_csv, write_markdown
    from agents.bench.plots import plot_eval_curves, plot_learning_curves, plot_primary_bars
    from agents.bench.results import load_results

    out_dir = Path(out_dir)
    summaries = summarize_runs(load_results(out_dir))
    print_tables(summaries, console)
    paths = {
        "markdown": write_markdown(summaries, out_dir / "summary.md"),
        "csv": write_csv(summaries, out_dir / "summary.csv"),
        "learning curves": plot_learning_curves(summaries, out_dir / "plots" / "learning_curves.png"),
        "primary metric": plot_primary_bars(summaries, out_dir / "plots" / "primary_metric.png"),
        # One figure per env: labelled by the env, so the lines say which is which.
        **{f"eval curve {path.stem.removeprefix('eval_curve_')}": path
           for path in plot_eval_curves(summaries, out_dir / "plots")},
    }
    for what, path in paths.items():
        label = "eval curve" if what.startswith("eval curve ") else what
        console.print(f"{label:>16}: {path}")
    return paths


def list_choices(console: Console) -> None:
    from agents import registry
    from agents.bench.runner import unavailable_agents
    from textenvs import ENV_IDS

    console.print("[bold]envs[/bold]: " + ", ".join(ENV_IDS))
    missing = unavailable_agents(registry.available())
    console.print("[bold]agents[/bold]:")
    for name in registry.available():
        console.print(f"  {name:<18} " + (f"[yellow]unavailable[/yellow] ({missing[name]})" if name in missing
                                          else "[green]available[/green]"))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage error; report it as a status, like the rest
        return int(exit_.code or 0)
    console = _quiet_console()
    if args.list:
        list_choices(console)
        return 0
    if args.aggregate is not None:
        try:
            render_results(args.aggregate, console)
        except (FileNotFoundError, ValueError) as error:
            print(f"textenvs bench: error: {error}", file=sys.stderr)
            return 2
        return 0

    from agents.bench.runner import EvalCurveSettings, plan

    try:
        options, agents, missing = _options_and_agents(args, console)
        agent_config = _agent_config_for(agents, options["agent_config"], console)
        eval_curve = EvalCurveSettings(options["eval_every"], options["eval_curve_examples"],
                                       options["eval_curve_split"])
        specs = plan(options["envs"], agents, options["seeds"], options["budget"], options["eval_examples"],
                     options["eval_batch"], options["env_kwargs"], agent_config, eval_curve,
                     options["extra_scorers"] or [], options["train_env_kwargs"])
    except (KeyError, ValueError, TypeError, ImportError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"textenvs bench: error: {message}", file=sys.stderr)
        return 2
    return _run_and_report(specs, options, agents, missing, console)


def _budget_text(budget: int | dict[str, int]) -> str:
    if isinstance(budget, dict):
        return "budget " + ", ".join(f"{env_id.rsplit('/', 1)[-1]} {steps}" for env_id, steps in budget.items()) + \
            " env steps"
    return f"budget {budget} env steps"


def _quiet_console() -> Console:
    """The console the bench prints to, after silencing the libraries' own progress bars and version notices."""
    # Our bars replace the "Loading weights" bars of Hugging Face libraries (worker processes and a local Ray
    # instance inherit the setting).
    from agents.cli import quiet_library_progress_bars

    quiet_library_progress_bars()
    from agents.bench.execution import quiet_version_notices

    quiet_version_notices()  # said once in _run_and_report, for the envs that have a newer version
    console = Console()
    if not console.is_terminal:  # logs and CI: wide enough for the tables (eval-curve columns too), not 80
        console = Console(width=max(console.width, 200))
    return console


def _options_and_agents(args: argparse.Namespace,
                        console: Console) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """The resolved options, the agents that will run and the unavailable ones left out (name -> reason).

    :raises ValueError: an agent cannot be imported and ``--skip-unavailable`` was not given, or none can be.
    """
    from agents.bench.runner import unavailable_agents

    options = resolve_options(args)
    missing = unavailable_agents(options["agents"])
    if missing and not options["skip_unavailable"]:
        lines = "\n".join(f"  {name}: {reason}" for name, reason in missing.items())
        raise ValueError(f"These agents cannot be imported here:\n{lines}\n"
                         "Install what they need, or pass --skip-unavailable to run the others.")
    for name, reason in missing.items():
        console.print(f"[yellow]skipping agent {name}[/yellow]: {reason}")
    agents = [agent for agent in options["agents"] if agent not in missing]
    if not agents:
        raise ValueError(f"None of the agents {options['agents']} can be imported here.")
    return options, agents, missing


def _run_and_report(specs: Sequence[RunSpec], options: dict[str, Any], agents: list[str], missing: dict[str, str],
                    console: Console) -> int:
    """Record the config, run ``specs``, render the results and report skipped agents and failed runs; the exit
    status (1 when a run failed)."""
    from agents.bench.execution import newer_versions
    from agents.bench.runner import run_benchmark

    out_dir = Path(options["out"])
    out_dir.mkdir(parents=True, exist_ok=True)
    recorded = {**options, "agents": agents, "skipped_agents": missing}
    (out_dir / "bench_config.json").write_text(json.dumps(recorded, indent=2, default=str) + "\n", encoding="utf-8")
    console.print(f"[bold]textenvs bench[/bold]: {len(options['envs'])} env(s) × {len(agents)} agent(s) × "
                  f"{len(options['seeds'])} seed(s) = {len(specs)} runs, {_budget_text(options['budget'])}, "
                  f"backend {options['backend']} → {out_dir}")
    for env_id, newest in newer_versions(options["envs"]).items():
        console.print(f"[dim]note: {env_id} has a newer version, {newest}; these runs use the one named.[/dim]")
    outcome = run_benchmark(specs, out_dir, backend=options["backend"], workers=options["workers"],
                            address=options["address"], cpus_per_run=options["cpus_per_run"],
                            gpus_per_run=options["gpus_per_run"], console=console, progress=options["progress"],
                            save_policies=bool(options["save_policies"]))
    if outcome.written:
        render_results(out_dir, console)
        print_kept_policies(out_dir, console)
        print_submission_hint(out_dir, options["eval_examples"], console)
    if missing:
        console.print("[yellow]skipped agents[/yellow]: " + "; ".join(f"{name} ({reason})"
                                                                      for name, reason in missing.items()))
    if outcome.failures:
        console.print(f"[red]{len(outcome.failures)} run(s) failed[/red]:")
        for name, error in outcome.failures.items():
            console.print(f"[red]{name}[/red]")
            console.print(error, markup=False, highlight=False)
        return 1
    return 0


def print_kept_policies(out_dir: Path, console: Any) -> None:
    """How many trained policies the runs kept under ``out_dir/policies`` and their size on disk."""
    from agents.bench.policies import POLICIES_DIR, directory_size, megabytes

    kept = [path for path in sorted((out_dir / POLICIES_DIR).glob("*")) if path.is_dir()
            and not path.name.endswith(".partial")]
    if kept:
        console.print(f"{'policies':>16}: {len(kept)} kept, {megabytes(sum(map(directory_size, kept)))} in "
                      f"{out_dir / POLICIES_DIR} (--no-save-policies to skip)", markup=False, highlight=False)


def print_submission_hint(out_dir: Path, eval_examples: int | None, console: Any) -> None:
    """The closing line on how to submit a run's predictions to a leaderboard, with one of this run's files; or,
    when the runs evaluated only part of the test split (which a leaderboard refuses), how to get submittable ones."""
    predictions = sorted((out_dir / "predictions").glob("*.jsonl"))
    if not predictions:
        return
    if eval_examples is not None:
        console.print(f"[dim]These predictions cover the first {eval_examples} test examples; a leaderboard takes "
                      "whole test splits: rerun without --eval-examples to submit them.[/dim]")
        return
    runs = {path: _run_record(out_dir, path.stem) for path in predictions}
    # A run with a kept policy first (its submission can be verified), then any but the random baseline.
    example = next((path for path, run in runs.items() if run.get("policy_path")),
                   next((path for path in predictions if "__random__" not in path.name), predictions[0]))
    metadata = example.with_suffix(".metadata.json")
    policy = runs[example].get("policy_path")
    model = f" --model {out_dir / policy}" if policy else ""
    console.print("To submit a run to a leaderboard (textenvs leaderboard serve), e.g.:\n"
                  f"  textenvs leaderboard submit {example} --env {runs[example].get('env', {}).get('id', 'ENV_ID')} "
                  f"--server URL --token TOKEN --metadata @{metadata}{model}", markup=False, highlight=False,
                  soft_wrap=True)
    if policy:
        console.print("(--model uploads the run's policy: the server regenerates the predictions from it and marks "
                      "the entry verified when they are identical)", markup=False, highlight=False)


def _run_record(out_dir: Path, run: str) -> dict[str, Any]:
    """The results JSON of ``run`` as a plain dict (empty when missing)."""
    path = out_dir / "runs" / f"{run}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


if __name__ == "__main__":
    sys.exit(main())
