"""Benchmark eval curves (``--eval-every``) and extra scorers (``--extra-scorers``): steps to half the gap and curve
AUC on hand-made results, training undisturbed by the evaluations (bit-identical parameters), an end-to-end bench
that writes and shows them, the plots, and bad settings rejected before anything runs."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest
import torch

from agents.base import Agent
from agents.bench import cli
from agents.bench.aggregate import curve_auc, steps_to_half_gap, summarize_runs, write_csv, write_markdown
from agents.bench.execution import EvalCurve, RunSpec, undisturbed
from agents.bench.plots import plot_eval_curves
from agents.bench.results import RunResult, load_results
from agents.bench.runner import EvalCurveSettings, plan
from agents.registry import agent_class
from tests.agents.test_bench import TRANSLATION, fake_result, write_toy_benchmark
from tests.helpers import tiny_model, word_tokenizer
from textenvs.evaluation import generate_split

V1 = "textenvs/Translation-v1"  # reward ceiling 1.0
SYNTHETIC = "textenvs/SyntheticTranslation-v2"
ORACLE = f"{__name__}:GrowingOracle"


class GrowingOracle(Agent):
    """A learner whose held-out score is known in advance: it answers the first reference of a share of the examples
    it is asked (the first ones) and nothing (EOS) for the rest; the share grows with the env steps learned, by
    ``(1 + seed) / 2`` per budget, reported every ``budget / points`` steps."""

    name = "oracle"

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, seed: int = 0, points: int = 4) -> None:
        super().__init__(env_id, env_kwargs, seed)
        self.points = points
        self.share = 0.0
        self.eos = None

    def learn(self, total_env_steps, callback=None):
        curve = []
        for k in range(1, self.points + 1):
            steps = total_env_steps * k // self.points
            self.share = min(1.0, steps / total_env_steps * (1 + self.seed) / 2)
            curve.append({"env_steps": steps, "reward": self.share, "kl": self.share / 10})
            if callback is not None:
                callback(curve[-1])
        return curve

    def act(self, observation):
        return np.full(len(observation["generated_mask"]), self.eos)

    def generate(self, env, indices=None, progress=None):
        task = env.unwrapped.task
        self.eos = task.tokenizer.eos_token_id
        indices = list(range(len(task.dataset)) if indices is None else indices)
        answered = int(self.share * len(indices))
        records = []
        for position, index in enumerate(indices):
            text = task.dataset[index].references[0] if position < answered else ""
            tokens = np.asarray(task.tokenizer.encode(text, add_special_tokens=False) + [self.eos])
            records += generate_split(env, lambda obs: tokens[np.minimum(obs["generated_mask"].sum(axis=1),
                                                                         len(tokens) - 1)], [index])
        if progress is not None:
            progress(len(records))
        return records

    def config(self):
        return {"name": self.name, "points": self.points}


def with_eval_curve(result: RunResult, values: list[float], steps: list[float]) -> RunResult:
    return result.model_copy(update={"eval_curve": [{"env_steps": s, "chrf": v} for s, v in zip(steps, values)]})


# ---------------------------------------------------------------------------------------------------------------
# Steps to half the gap and curve AUC on hand-made curves.


def test_steps_to_half_gap_interpolates_and_says_when_never_reached():
    # warm 0.2, ceiling 1.0: target 0.6, crossed between (100, 0.4) and (200, 0.8): 100 + 0.2 / 0.4 * 100 = 150
    assert steps_to_half_gap([0, 100, 200], [0.2, 0.4, 0.8], 1.0) == pytest.approx(150.0)
    assert steps_to_half_gap([0, 100, 200], [0.2, 0.6, 0.9], 1.0) == pytest.approx(100.0)  # exactly at a point
    assert steps_to_half_gap([0, 100, 200], [0.2, 0.5, 0.59], 1.0) is None
    # gap closed 0, 0.5, 1 over steps 0, 100, 200: trapezoids 25 + 75 = 100 over a span of 200
    assert curve_auc([0, 100, 200], [0.2, 0.6, 1.0], 1.0) == pytest.approx(0.5)
    assert curve_auc([0, 100, 200], [0.2, 0.2, 0.2], 1.0) == 0.0
    assert curve_auc([0, 100], [0.2, 0.0], 1.0) == pytest.approx(-0.125)  # worse than the warm start


def test_curve_measures_over_seeds_reached_partly_reached_and_one_seed(tmp_path):
    steps = [0, 100, 200]
    reached = [with_eval_curve(fake_result(V1, "ppo", seed, 0.9), curve, steps)
               for seed, curve in enumerate([[0.2, 0.4, 0.8], [0.2, 0.6, 0.9], [0.0, 0.5, 1.0]])]
    partly = [with_eval_curve(fake_result(V1, "grpo", seed, 0.5), curve, steps)
              for seed, curve in enumerate([[0.2, 0.4, 0.8], [0.2, 0.3, 0.4], [0.2, 0.25, 0.3]])]
    single = [with_eval_curve(fake_result(V1, "rloo", 0, 0.5), [0.2, 0.4, 0.8], steps)]
    greedy = [fake_result(V1, "greedy", seed, 0.2) for seed in range(3)]  # no eval curve: nothing added
    summaries = {s.agent: s for s in summarize_runs(reached + partly + single + greedy)}

    # per seed 150, 100, 100: mean 116.67, s / √3 = 50 / 3, t(0.975, 2) = 4.302653: 71.7109
    ppo = summaries["ppo"]
    assert ppo.metrics["steps_to_half_gap"].mean == pytest.approx(350 / 3)
    assert ppo.metrics["steps_to_half_gap"].half_width == pytest.approx(71.7109, abs=1e-4)
    # gap closed [0, 0.25, 0.75], [0, 0.5, 0.875], [0, 0.5, 1]; trapezoids of 100 steps over a span of 200:
    # (12.5 + 50) / 200 = 0.3125, (25 + 68.75) / 200 = 0.46875, (25 + 75) / 200 = 0.5
    assert ppo.metrics["curve_auc"].mean == pytest.approx((0.3125 + 0.46875 + 0.5) / 3)
    assert ppo.half_gap_reached == (3, 3)
    grpo = summaries["grpo"]
    assert "steps_to_half_gap" not in grpo.metrics and grpo.half_gap_reached == (1, 3)
    assert grpo.metrics["seeds_reaching_half_gap"].mean == 1.0
    rloo = summaries["rloo"]
    assert rloo.metrics["steps_to_half_gap"].mean == pytest.approx(150.0)
    assert rloo.metrics["steps_to_half_gap"].half_width is None
    assert "curve_auc" not in summaries["greedy"].metrics and summaries["greedy"].half_gap_reached is None

    markdown = write_markdown(list(summaries.values()), tmp_path / "summary.md").read_text()
    assert "| steps to ½ gap | curve AUC |" in markdown
    assert "| 117 ± 72 |" in markdown and "| not reached (1/3) |" in markdown and "| 150 |" in markdown
    rows = write_csv(list(summaries.values()), tmp_path / "summary.csv").read_text().splitlines()
    assert any(row.startswith(f"{V1},") and ",grpo,chrf,seeds_reaching_half_gap,1.0," in row for row in rows)
    assert not any(",grpo,chrf,steps_to_half_gap," in row for row in rows)

    # Results without eval curves are summarized as before: no new columns.
    plain = write_markdown(summarize_runs(greedy), tmp_path / "plain.md").read_text()
    assert "½ gap" not in plain and "AUC" not in plain


def test_results_written_before_eval_curves_still_load():
    old = json.loads(fake_result(V1, "ppo", 0, 0.5).model_dump_json())
    for key in ("eval_curve", "extra_scorers"):
        del old[key]
    del old["wall_time_s"]["eval_curve"]
    loaded = RunResult.model_validate(old)
    assert loaded.eval_curve == [] and loaded.extra_scorers == {} and loaded.wall_time_s.eval_curve == 0.0


# ---------------------------------------------------------------------------------------------------------------
# Evaluating during learning leaves training as it was.


def learn_with_curve(agent: Agent, agent_name: str, budget: int, env_kwargs: dict[str, Any], eval_every: int | None,
                     eval_batch: int, examples: int) -> tuple[list[dict[str, float]], list[dict[str, float]] | None]:
    """``agent.learn(budget)``'s history and, with ``eval_every``, the eval curve (on the test split) taken on the
    way from the learn callback, as the bench takes it; None without."""
    if not eval_every:
        return agent.learn(budget), None
    spec = RunSpec(TRANSLATION, agent_name, 0, budget, eval_batch=eval_batch, env_kwargs=env_kwargs,
                   eval_every=eval_every, eval_curve_examples=examples, eval_curve_split="test")
    curve = EvalCurve(spec, agent, lambda *event: None)
    history = agent.learn(budget, curve.after_training_point)
    return history, curve.finish(history)


def assert_trained_alike(plain: torch.nn.Module, plain_history: list[dict[str, float]], watched: torch.nn.Module,
                         watched_history: list[dict[str, float]]) -> None:
    """The same parameters, bit for bit, and the same training rewards with and without the evaluations."""
    for (name, expected), actual in zip(plain.state_dict().items(), watched.state_dict().values()):
        assert torch.equal(expected, actual), name
    assert [p["reward"] for p in plain_history] == [p["reward"] for p in watched_history]


def test_undisturbed_restores_random_states_and_module_modes():
    agent = GrowingOracle(TRANSLATION)
    agent.model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5)).eval()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    before = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    with undisturbed(agent):
        random.random(), np.random.random(), torch.rand(3)
        agent.model.train()
    assert random.getstate() == before[0] and np.array_equal(np.random.get_state()[1], before[1])
    assert torch.equal(torch.get_rng_state(), before[2])
    assert not any(module.training for module in agent.model.modules())


def test_grpo_with_an_eval_curve_ends_with_the_same_parameters(tmp_path):
    """The evaluations run between iterations from the learn callback; the trained model must not depend on them."""
    env_kwargs = write_toy_benchmark(tmp_path)
    settings = dict(num_envs=8, num_generations=4, num_minibatches=2, learning_rate=3e-3, beta=0.05,
                    progress=False, tensorboard=False)

    def trained(eval_every: int | None):
        torch.manual_seed(0)
        agent = agent_class("grpo")(env_id=TRANSLATION, env_kwargs=env_kwargs, seed=0,
                                    model=tiny_model("causal", word_tokenizer()), **settings)
        return agent, *learn_with_curve(agent, "grpo", 60, env_kwargs, eval_every, eval_batch=2, examples=3)

    plain, plain_history, _ = trained(None)
    watched, watched_history, points = trained(20)
    assert_trained_alike(plain.model, plain_history, watched.model, watched_history)
    steps = [point["env_steps"] for point in points]
    assert steps[0] == 0 and len(steps) >= 3 and steps == sorted(steps)
    assert steps[-1] == watched_history[-1]["env_steps"]
    assert all("chrf" in point and "kl" in point for point in points) and points[0]["kl"] == 0.0


# ---------------------------------------------------------------------------------------------------------------
# End to end: the bench records the eval curve and the extra scorers, and shows them.


def test_bench_with_eval_every_records_shows_and_plots_the_curve(tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["--envs", SYNTHETIC, "--agents", ORACLE, "--seeds", "0,1", "--budget", "40", "--eval-every", "20",
            "--eval-curve-examples", "8", "--eval-examples", "8", "--eval-batch", "4", "--extra-scorers", "bleu,chrf",
            "--out", str(out), "--no-progress"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    results = {result.seed: result for result in load_results(out)}
    # share = steps / 40 * (1 + seed) / 2 of 8 examples answered right: gold 0, 0.25, 0.5 (seed 0), 0, 0.5, 1
    for seed, golds in ((0, [0.0, 0.25, 0.5]), (1, [0.0, 0.5, 1.0])):
        curve = results[seed].eval_curve
        assert [p["env_steps"] for p in curve] == [0, 20, 40]
        assert [p["synthetic_gold"] for p in curve] == pytest.approx(golds)
        assert [p["kl"] for p in curve] == pytest.approx([0.0, 0.5 * (1 + seed) / 20, (1 + seed) / 20])
        assert results[seed].wall_time_s.eval_curve > 0
        assert {"bleu/bleu", "bleu/corpus_bleu", "chrf/chrf", "chrf/corpus_chrf"} <= set(results[seed].metrics)
        assert results[seed].extra_scorers == {"bleu": "bleu", "chrf": "chrf"}
    # half the gap at 40 and 20 steps: 30 ± t(0.975, 1) * 10 = 127; AUC 0.25 and 0.5: 0.375 ± 12.706 * 0.125
    markdown = (out / "summary.md").read_text()
    assert "| bleu/corpus_bleu | chrf/corpus_chrf | steps to ½ gap | curve AUC |" in markdown
    assert "| 30 ± 127 | 0.375 ± 1.588 |" in markdown and "30 ± 127" in printed  # the terminal table too
    plot = out / "plots" / "eval_curve_SyntheticTranslation-v2.png"
    assert plot.read_bytes().startswith(b"\x89PNG") and str(plot) in printed


def test_proxy_runs_plot_gold_against_steps_and_kl(tmp_path):
    def run(seed: int) -> RunResult:
        points = [{"env_steps": s, "chrf": 0.2 + s / 500, "synthetic_gold/synthetic_gold": 0.3 + s / 1000 - s * s / 1e6,
                   "kl": s / 100} for s in (0, 100, 200, 300)]
        return fake_result(V1, "grpo", seed, 0.5).model_copy(update={"eval_curve": points})

    written = plot_eval_curves(summarize_runs([run(0), run(1)]), tmp_path)
    assert [path.name for path in written] == ["eval_curve_Translation-v1.png"]
    assert written[0].stat().st_size > 20000  # three panels
    assert plot_eval_curves(summarize_runs([fake_result(V1, "grpo", 0, 0.5)]), tmp_path / "none") == []


# ---------------------------------------------------------------------------------------------------------------
# Bad settings stop the bench before anything runs.


@pytest.mark.parametrize("settings, message", [
    ({"eval_curve": EvalCurveSettings(every=-5)}, "eval_every must be a whole number of env steps >= 0"),
    ({"eval_curve": EvalCurveSettings(every=100, examples=0)}, "eval_curve_examples must be a whole number >= 1"),
    ({"eval_curve": EvalCurveSettings(every=100, split="train")}, "eval_curve_split must name a held-out split"),
    ({"extra_scorers": ["BLEU"]}, "Unknown extra scorer 'BLEU'. Did you mean 'bleu'? Registered scorers: "),
    ({"extra_scorers": ["chrf", "chrf"]}, "extra_scorers names ['chrf'] more than once"),
])
def test_bad_eval_curve_or_extra_scorer_settings_are_rejected_in_plan(settings, message):
    with pytest.raises(ValueError) as error:
        plan([TRANSLATION], ["random"], [0], 10, **settings)
    assert message in str(error.value)


def test_bad_eval_curve_flag_stops_the_cli_before_any_run(tmp_path, capsys):
    assert cli.main(["--envs", TRANSLATION, "--agents", "random", "--eval-every", "-1", "--out", str(tmp_path)]) == 2
    assert "eval_every must be a whole number of env steps >= 0 (0 or None: off), got -1." in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    specs = plan([TRANSLATION], ["random"], [0], 10)
    assert specs[0].eval_every is None and specs[0].extra_scorers == []  # off by default


def test_sb3_with_an_eval_curve_ends_with_the_same_parameters():
    """SB3 agents report a point after each rollout + update (``n_steps × num_envs`` env steps), so their eval
    points land at those boundaries; their sampling draws from torch's global generator, which the evaluations must
    leave as they found it."""
    pytest.importorskip("stable_baselines3")
    settings = {"model": "scratch", "model_overrides": {"n_layer": 1, "n_embd": 32, "n_head": 2}, "num_envs": 4,
                "n_steps": 16}
    env_kwargs = {"max_new_tokens": 6}

    def trained(eval_every: int | None):
        agent = agent_class("sb3-ppo")(TRANSLATION, env_kwargs, seed=0, **settings)
        return agent, *learn_with_curve(agent, "sb3-ppo", 192, env_kwargs, eval_every, eval_batch=4, examples=4)

    plain, plain_history, _ = trained(None)
    watched, watched_history, points = trained(64)
    assert_trained_alike(plain.algorithm.policy, plain_history, watched.algorithm.policy, watched_history)
    assert [point["env_steps"] for point in points] == [0, 64, 128, 192]


def test_eval_curve_and_extra_scorer_options_come_from_a_config_file_or_the_command_line(tmp_path):
    config = tmp_path / "bench.json"
    config.write_text(json.dumps({"envs": [TRANSLATION], "agents": "random", "eval-every": 500,
                                  "eval_curve_split": "test", "extra-scorers": ["bleu", "chrf"]}))
    options = cli.resolve_options(cli.build_parser().parse_args(["--config", str(config), "--eval-curve-examples",
                                                                 "20"]))
    assert (options["eval_every"], options["eval_curve_examples"], options["eval_curve_split"]) == (500, 20, "test")
    assert options["extra_scorers"] == ["bleu", "chrf"]
    options = cli.resolve_options(cli.build_parser().parse_args(["--config", str(config), "--extra-scorers",
                                                                 "rougeL"]))
    assert options["extra_scorers"] == ["rougeL"]


def test_an_extra_scorer_that_a_proxy_already_holds_is_recorded_once():
    """``proxy_bleu`` records its BLEU part as ``bleu/bleu``, the name the extra scorer ``bleu`` gives its sentence
    BLEU: the same measure on the same predictions, so it is kept once (a different value would be an error)."""
    from agents.bench.execution import execute

    output = execute(RunSpec(SYNTHETIC, ORACLE, seed=1, budget=0, eval_examples=4, eval_batch=4,
                             env_kwargs={"scorer": "proxy_bleu"}, extra_scorers=["bleu"]))
    metrics = output.result.metrics
    assert {"proxy_bleu", "bleu/bleu", "corpus_bleu/bleu", "bleu/corpus_bleu",
            "synthetic_gold/synthetic_gold"} <= set(metrics)
    assert output.result.extra_scorers == {"bleu": "bleu"}
