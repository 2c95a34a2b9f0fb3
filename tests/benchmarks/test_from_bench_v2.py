"""benchmarks/learning/from_bench.py and summarize.py on v2 runs (issue 23): hand-made RunResult files with eval
curves give the v2 results files (per seed and over seeds: test gold, BLEU/chrF, length, steps to half the gap,
curve AUC, the curve), the proxy files (proxy and gold per eval point, against KL; test gold vs the warm start) and
SB3's same-budget block; summarize.py renders the README's v2 tables from them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tests.helpers import BENCH_RUN_PROVENANCE, write_bench_runs as write

from benchmarks.learning import from_bench, summarize

ENV = "textenvs/SyntheticTranslation-v2"
HARD = {"dataset_options": {"level": "hard"}}
GOLD = "synthetic_gold/synthetic_gold"
T95_2 = 4.302652729911275  # t(0.975, 2): the 95% half-width of 3 seeds is T95_2 * std / sqrt(3)


def run_json(agent: str, seed: int, metrics: dict[str, float], curve: list[dict[str, float]],
             kwargs: dict | None = None, scorer: str = "synthetic_gold", budget: int = 5000,
             learning: list[dict[str, float]] | None = None, config: dict | None = None) -> dict:
    """A RunResult as textenvs bench writes it (only what these scripts read is meaningful)."""
    return {
        "run": f"SyntheticTranslation-v2__{agent}__seed{seed}",
        "env": {"id": ENV, "version": 2, "kwargs": kwargs if kwargs is not None else HARD,
                "task": {"task": "translation-v2"}},
        "dataset": {"name": "synthetic-translation-v2", "split": "test", "content_hash": "abc", "size": 500,
                    "evaluated": 500, "complete": True},
        "scorer": {"name": scorer, "primary": scorer}, "agent": {"name": agent, "config": config or {"name": agent}},
        "seed": seed, "budget_env_steps": budget if agent != "greedy" else 0,
        "env_steps": int(curve[-1]["env_steps"]) if agent != "greedy" else 0, "primary_metric": scorer,
        "metrics": metrics, "learning_curve": learning or [], "eval_curve": curve,
        "extra_scorers": {"bleu": "bleu", "chrf": "chrf"},
        "predictions_path": f"predictions/{agent}{seed}.jsonl",
        **BENCH_RUN_PROVENANCE}



def curve(values: list[float], steps: tuple[float, ...] = (0.0, 2500.0, 5000.0)) -> list[dict[str, float]]:
    return [{"env_steps": step, "synthetic_gold": value} for step, value in zip(steps, values)]


def gold_metrics(gold: float, bleu: float, chrf: float, length: float) -> dict[str, float]:
    return {"synthetic_gold": gold, "corpus_synthetic_gold": gold, "length": length, "bleu/bleu": bleu - 0.01,
            "bleu/corpus_bleu": bleu, "chrf/chrf": chrf - 0.01, "chrf/corpus_chrf": chrf}


@pytest.fixture
def warm_start_model(tmp_path) -> Path:
    model = tmp_path / "checkpoint"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    (model / "training_config.json").write_text(json.dumps({"task": {"dataset_hash": "trainhash"}}))
    return model


@pytest.fixture
def hard_dir(tmp_path, warm_start_model) -> Path:
    """Warm start 0.4 on test; PPO's validation curves from 0.4 reach half the gap (0.7) at 3,750 and 1,875 env steps
    on seeds 0 and 1, never on seed 2; RLOO's on every seed."""
    greedy = [run_json("greedy", seed, gold_metrics(0.4, 0.3, 0.5, 9.0), curve([0.4]),
                       config={"name": "greedy", "model": "default", "model_source": str(warm_start_model)})
              for seed in range(3)]
    ppo = [run_json("ppo", seed, gold_metrics(gold, bleu, 0.6, length), curve(values))
           for seed, (gold, bleu, length, values) in enumerate([
               (0.6, 0.5, 8.0, [0.4, 0.6, 0.8]), (0.7, 0.55, 9.0, [0.4, 0.8, 0.8]),
               (0.65, 0.6, 10.0, [0.4, 0.5, 0.6])])]
    rloo = [run_json("rloo", seed, gold_metrics(gold, 0.7, 0.8, 9.0), curve([0.4, 0.9, 0.95]))
            for seed, gold in enumerate([0.9, 0.91, 0.92])]
    return write(tmp_path / "bench-hard", greedy + ppo + rloo)


def test_v2_file_records_per_seed_and_interval_measures(hard_dir, tmp_path, warm_start_model) -> None:
    config = tmp_path / "v2-hard.json"
    config.write_text(json.dumps({"envs": [ENV], "eval_every": 2500, "eval_curve_examples": 100,
                                  "eval_curve_split": "validation"}))
    results = tmp_path / "results"
    assert from_bench.main([str(hard_dir), "--prefix", "v2-hard", "--config", str(config),
                            "--results", str(results)]) == 0
    assert sorted(path.name for path in results.iterdir()) == ["v2-hard-translation-ppo.json",
                                                              "v2-hard-translation-rloo.json"]
    ppo = json.loads((results / "v2-hard-translation-ppo.json").read_text())
    assert ppo["kind"] == "v2" and ppo["level"] == "hard" and ppo["task"] == "translation" and ppo["ceiling"] == 1.0
    assert ppo["command"].startswith(f"python -m textenvs bench --config {config.as_posix()} && python benchmarks/")
    assert ppo["bench_config"]["eval_every"] == 2500 and ppo["versions"] == {"textenvs": "0"}
    assert ppo["data"]["test"]["content_hash"] == "abc"
    assert ppo["data"]["eval_curve"]["split"] == "validation" and ppo["data"]["eval_curve"]["examples"] == 100
    assert len(ppo["data"]["eval_curve"]["content_hash"]) == 64
    checkpoint = ppo["warm_start"]["checkpoint"]
    assert checkpoint["model_sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert checkpoint["train_dataset_hash"] == "trainhash"
    assert ppo["warm_start"]["test"] == pytest.approx({"synthetic_gold": 0.4, "bleu/corpus_bleu": 0.3,
                                                       "chrf/corpus_chrf": 0.5, "length": 9.0})
    seeds = ppo["runs"]
    assert [seed["seed"] for seed in seeds] == [0, 1, 2]
    assert seeds[0]["test"] == pytest.approx({"synthetic_gold": 0.6, "bleu/corpus_bleu": 0.5, "chrf/corpus_chrf": 0.6,
                                              "length": 8.0})
    # steps to half the gap, interpolated: 2500 + (0.7 - 0.6) / (0.8 - 0.6) * 2500; 0 + 0.3 / 0.4 * 2500; never.
    assert [seed["steps_to_half_gap"] for seed in seeds] == [pytest.approx(3750.0), pytest.approx(1875.0), None]
    # AUC of the gap closed (0, 1/3, 2/3), (0, 2/3, 2/3), (0, 1/6, 1/3) by the trapezoid rule over 5,000 steps
    assert [seed["curve_auc"] for seed in seeds] == pytest.approx([1 / 3, 0.5, 1 / 6])
    assert [seed["gap_closed"] for seed in seeds] == pytest.approx([1 / 3, 0.5, 0.25 / 0.6])
    assert seeds[2]["eval_curve"] == curve([0.4, 0.5, 0.6])
    summary = ppo["summary"]
    assert summary["steps_to_half_gap"] is None and summary["seeds_reaching_half_gap"] == {"seeds": 2, "of": 3}
    assert summary["curve_auc"]["mean"] == pytest.approx(1 / 3)
    std = pytest.approx((((1 / 3 - 1 / 3) ** 2 + (0.5 - 1 / 3) ** 2 + (1 / 6 - 1 / 3) ** 2) / 2) ** 0.5)
    assert summary["curve_auc"]["ci95"] == pytest.approx(T95_2 * std.expected / 3 ** 0.5)
    assert summary["synthetic_gold"]["mean"] == pytest.approx(0.65) and summary["synthetic_gold"]["n"] == 3
    assert summary["synthetic_gold"]["ci95"] == pytest.approx(T95_2 * 0.05 / 3 ** 0.5)
    assert summary["gap_closed"]["mean"] == pytest.approx(0.25 / 0.6)
    assert summary["bleu/corpus_bleu"]["mean"] == pytest.approx(0.55) and summary["length"]["mean"] == pytest.approx(9)
    assert summary["seeds_won"] == 3 and summary["warm_start"] == pytest.approx(0.4)
    rloo = json.loads((results / "v2-hard-translation-rloo.json").read_text())
    # (0.9 >= 0.7 at the first point: 0 + 0.3 / 0.5 * 2500 on every seed, so the interval has no width)
    assert rloo["summary"]["steps_to_half_gap"]["mean"] == pytest.approx(1500.0)
    assert rloo["summary"]["steps_to_half_gap"]["ci95"] == pytest.approx(0.0)

    markdown = summarize.v2_markdown(summarize.load_results(results))
    assert ("| translation | hard | ppo | 5,000 | 3 | 0.400 | 0.650 ± 0.124 (0.600, 0.700, 0.650) | 41.7% ± 20.7 | "
            "not reached (2/3) | 0.333 ± 0.414 | 0.550 ± 0.124 | 0.600 ± 0.000 | 9.0 ± 2.5 |") in markdown
    assert "| translation | hard | rloo | 5,000 | 3 | 0.400 | 0.910 ± 0.025 (0.900, 0.910, 0.920) |" in markdown
    assert "| translation | warm start (greedy) | 0.400 |" in markdown
    assert "| translation | ppo (5,000, 3 seeds) | 0.650 ± 0.124 |" in markdown
    # Welch's t-test on the per-seed golds (0.9, 0.91, 0.92) vs (0.6, 0.7, 0.65): t = 8.83 on 2.16 df
    assert ("| translation | hard (5,000 env steps, 3 seeds) | gold, test | rloo > ppo | none | "
            "rloo > ppo (p = 0.0099) |") in markdown
    # rloo's AUC is the same on every seed: Welch's test on ppo's spread alone, t = 3.25 on 2 df, p = 0.083
    assert "| hard (5,000 env steps, 3 seeds) | curve AUC | none | rloo ~ ppo | none |" in markdown
    # ppo's seed 2 never reached half the gap: no interval, no test
    assert ("| translation | hard (5,000 env steps, 3 seeds) | steps to ½ gap | none | no interval: ppo | none |"
            in markdown)


def test_apart_reports_pairs_whose_intervals_do_not_overlap() -> None:
    def value(mean: float, half: float | None) -> dict:
        return {"mean": mean, "ci95": half, "low": None if half is None else mean - half,
                "high": None if half is None else mean + half}
    separated, overlapping = summarize.apart({"a": value(0.9, 0.05), "b": value(0.8, 0.06), "c": value(0.5, 0.1),
                                              "d": value(0.7, None)})
    assert separated == ["a > c", "b > c"] and overlapping == ["a ~ b"]


def test_more_seeds_are_rows_of_their_own_with_their_own_t(hard_dir, tmp_path) -> None:
    # 10 seeds of the same task, level and budget beside the 3-seed files: their own rows, labelled with the seed
    # count, the interval with t(0.975, 9) (not 3 seeds' 4.30), and their own separation rows (the 3-seed agents'
    # estimates must not be overwritten by the 10-seed ones).
    golds = {"ppo": [0.6 + 0.01 * seed for seed in range(10)], "rloo": [0.63 + 0.01 * seed for seed in range(10)]}
    curves = {"ppo": [0.4, 0.6, 0.8], "rloo": [0.4, 0.9, 0.95]}
    runs = [run_json("greedy", seed, gold_metrics(0.4, 0.3, 0.5, 9.0), curve([0.4])) for seed in range(10)]
    runs += [run_json(agent, seed, gold_metrics(gold, 0.5, 0.6, 8.0), curve(curves[agent]))
             for agent, values in golds.items() for seed, gold in enumerate(values)]
    ten = write(tmp_path / "bench-hard-10", runs)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"envs": [ENV]}))
    results = tmp_path / "results"
    for directory, prefix in ((hard_dir, "v2-hard"), (ten, "v2-hard-10seeds")):
        from_bench.main([str(directory), "--prefix", prefix, "--config", str(config), "--results", str(results)])
    ppo = json.loads((results / "v2-hard-10seeds-translation-ppo.json").read_text())["summary"]["synthetic_gold"]
    std = (sum((gold - 0.645) ** 2 for gold in golds["ppo"]) / 9) ** 0.5
    assert ppo["n"] == 10 and ppo["ci95"] == pytest.approx(2.2621571627409915 * std / 10 ** 0.5)
    markdown = summarize.v2_markdown(summarize.load_results(results))
    assert "| translation | hard | ppo | 5,000 | 3 | 0.400 | 0.650 ± 0.124 (0.600, 0.700, 0.650) |" in markdown
    assert "| translation | hard | ppo | 5,000 | 10 | 0.400 | 0.645 ± 0.022 (0.600, 0.610, 0.620, " in markdown
    assert "| translation | ppo (5,000, 3 seeds) | 0.650 ± 0.124 |" in markdown
    assert "| translation | ppo (5,000, 10 seeds) | 0.645 ± 0.022 |" in markdown
    assert "| translation | hard (5,000 env steps, 3 seeds) | gold, test | rloo > ppo | none |" in markdown
    # 10 seeds, means 0.03 apart: the intervals (0.623-0.667, 0.653-0.697) overlap, Welch's t = 2.22 on 18 df
    # does not; both curves are the same on every seed: AUC intervals of no width apart, Welch undefined
    assert ("| translation | hard (5,000 env steps, 10 seeds) | gold, test | none | rloo ~ ppo | "
            "rloo > ppo (p = 0.04) |") in markdown
    assert "| translation | hard (5,000 env steps, 10 seeds) | curve AUC | rloo > ppo | none | none |" in markdown
    assert ("| translation | hard (5,000 env steps, 10 seeds) | steps to ½ gap | rloo < ppo | none | none |"
            in markdown)


def test_a_variant_of_an_agent_is_a_row_of_its_own(hard_dir, tmp_path) -> None:
    # PPO in another configuration (e.g. with a value baseline), same task, level, budget and seeds: from_bench
    # --variant records it, and every table shows it as "ppo (critic)" beside the usual "ppo", never in its place.
    critic = [run_json("ppo", seed, gold_metrics(gold, 0.5, 0.6, 8.0), curve([0.4, 0.5, 0.55]))
              for seed, gold in enumerate([0.5, 0.52, 0.51])]
    critic_dir = write(tmp_path / "bench-hard-critic", critic)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"envs": [ENV]}))
    results = tmp_path / "results"
    from_bench.main([str(hard_dir), "--prefix", "v2-hard", "--config", str(config), "--results", str(results)])
    from_bench.main([str(critic_dir), "--prefix", "v2-hard-critic", "--variant", "critic", "--warm-start-dir",
                     str(hard_dir), "--config", str(config), "--results", str(results)])
    assert json.loads((results / "v2-hard-critic-translation-ppo.json").read_text())["variant"] == "critic"
    assert "variant" not in json.loads((results / "v2-hard-translation-ppo.json").read_text())
    markdown = summarize.v2_markdown(summarize.load_results(results))
    assert "| translation | hard | ppo | 5,000 | 3 | 0.400 | 0.650 ± 0.124 (0.600, 0.700, 0.650) |" in markdown
    assert "| translation | hard | ppo (critic) | 5,000 | 3 | 0.400 | 0.510 ± 0.025 (0.500, 0.520, 0.510) |" in markdown
    assert "| translation | ppo (critic) (5,000, 3 seeds) | 0.510 ± 0.025 |" in markdown
    # PPO 0.650 ± 0.124 and its variant 0.510 ± 0.025 overlap; Welch's test tells them apart.
    assert ("| translation | hard (5,000 env steps, 3 seeds) | gold, test | rloo > ppo; rloo > ppo (critic) | "
            "ppo ~ ppo (critic) | rloo > ppo (p = 0.0099); rloo > ppo (critic) (p = 1e-06); "
            "ppo > ppo (critic) (p = 0.036) |") in markdown


def test_welch_p_is_scipys_welch_test_and_undefined_without_spread() -> None:
    from scipy import stats

    first, second = [0.9, 0.91, 0.93, 0.9], [0.6, 0.7, 0.65]
    assert summarize.welch_p(first, second) == pytest.approx(
        stats.ttest_ind(first, second, equal_var=False).pvalue)
    assert summarize.welch_p([0.5, 0.5], [0.5, 0.5]) is None and summarize.welch_p([0.5], [0.4, 0.6]) is None
    assert summarize.welch_apart({"a": [0.5, 0.5], "b": [0.4, 0.4], "c": None}) == []


def proxy_run(seed: int, golds: list[float], test_gold: float) -> dict:
    """PPO on proxy_bleu: eval points at 0, 2,500, 5,000 with KL 0, 1, 2; training rollouts every 1,250 steps."""
    points = [{"env_steps": step, "proxy_bleu": 0.5 + 0.1 * i, GOLD: gold, "kl": float(i)}
              for i, (step, gold) in enumerate(zip((0.0, 2500.0, 5000.0), golds))]
    learning = [{"env_steps": 1250.0 * k, "reward": 0.3 + 0.05 * k, "kl": 0.5 * k} for k in range(1, 5)]
    metrics = {"proxy_bleu": 0.7, GOLD: test_gold, "length": 8.0, "bleu/corpus_bleu": 0.6, "chrf/corpus_chrf": 0.7}
    return run_json("ppo", seed, metrics, points, kwargs={"dataset_options": {"level": "medium"},
                                                          "scorer": "proxy_bleu"},
                    scorer="proxy_bleu", learning=learning)


def test_proxy_file_records_gold_against_steps_and_kl(tmp_path, warm_start_model) -> None:
    medium = {"dataset_options": {"level": "medium"}}
    warm = write(tmp_path / "medium", [
        run_json("greedy", seed, gold_metrics(0.5, 0.4, 0.6, 9.0), curve([0.5]), kwargs=medium,
                 config={"name": "greedy", "model": "default", "model_source": str(warm_start_model)})
        for seed in range(3)])
    proxy = write(tmp_path / "proxy", [proxy_run(0, [0.5, 0.6, 0.4], 0.45), proxy_run(1, [0.5, 0.55, 0.5], 0.5),
                                       proxy_run(2, [0.5, 0.7, 0.6], 0.4)])
    config = tmp_path / "proxy.json"
    config.write_text(json.dumps({"envs": [ENV], "eval_every": 2500, "eval_curve_examples": 100}))
    results = tmp_path / "results"
    from_bench.main([str(proxy), "--prefix", "v2-medium-proxy", "--warm-start-dir", str(warm), "--config",
                     str(config), "--results", str(results)])
    result = json.loads((results / "v2-medium-proxy-translation-ppo.json").read_text())
    assert result["kind"] == "v2_proxy" and result["proxy"] == "proxy_bleu" and result["gold"] == GOLD
    assert result["env_kwargs"]["scorer"] == "proxy_bleu" and result["level"] == "medium"
    seed0 = result["runs"][0]
    # step 0: the first rollout's reward (drawn from the warm start); later points the mean of the rollouts since the
    # previous point (at 1,250 and 2,500 steps: 0.35, 0.4; at 3,750 and 5,000: 0.45, 0.5)
    assert seed0["curve"] == pytest.approx([
        {"env_steps": 0.0, "kl": 0.0, "train_proxy_reward": 0.35, "heldout_proxy": 0.5, "gold": 0.5},
        {"env_steps": 2500.0, "kl": 1.0, "train_proxy_reward": 0.375, "heldout_proxy": 0.6, "gold": 0.6},
        {"env_steps": 5000.0, "kl": 2.0, "train_proxy_reward": 0.475, "heldout_proxy": 0.7, "gold": 0.4}])
    assert seed0["peak_gold"]["env_steps"] == 2500.0 and seed0["peak_gold"]["kl"] == 1.0
    assert seed0["final_minus_peak_gold"] == pytest.approx(-0.2)
    assert seed0["test_gold_change"] == pytest.approx(-0.05)
    summary = result["summary"]
    assert summary["warm_start_test_gold"] == pytest.approx(0.5) and summary["seeds_below_warm_start"] == 2
    assert summary["test_gold"]["mean"] == pytest.approx(0.45)
    assert summary["test_gold_change"]["mean"] == pytest.approx(-0.05)
    assert summary["test_gold_change"]["ci95"] == pytest.approx(T95_2 * 0.05 / 3 ** 0.5)
    assert summary["peak_gold"]["mean"] == pytest.approx((0.6 + 0.55 + 0.7) / 3)
    assert summary["final_minus_peak_gold"]["mean"] == pytest.approx((-0.2 - 0.05 - 0.1) / 3)
    middle = summary["curve"][1]
    assert middle["env_steps"] == 2500.0 and middle["gold"]["mean"] == pytest.approx(0.6166666)
    assert middle["kl"]["mean"] == pytest.approx(1.0) and middle["train_proxy_reward"]["mean"] == pytest.approx(0.375)

    markdown = summarize.v2_markdown([result])
    assert ("| translation | medium | ppo on proxy_bleu | 5,000 | 0.500 | 0.450 ± 0.124 (0.450, 0.500, 0.400) | "
            "-0.050 ± 0.124 (2/3) | 0.700 ± 0.000 | 0.617 ± 0.190 | -0.117 ± 0.190 |") in markdown
    assert "| 2,500 | 1.000 ± 0.000 | 0.375 ± 0.000 | 0.600 ± 0.000 | 0.617 ± 0.190 |" in markdown


def test_sb3_file_holds_the_lm_agents_at_the_same_budget(tmp_path, hard_dir) -> None:
    steps = (0.0, 512.0, 1024.0, 1536.0, 2048.0)
    sb3 = write(tmp_path / "sb3", [
        run_json("sb3-maskable-ppo", seed, gold_metrics(0.42, 0.3, 0.5, 9.0),
                 curve([0.4, 0.4, 0.41, 0.42, gold], steps), budget=2048)
        for seed, gold in enumerate([0.43, 0.44, 0.45])])
    config = tmp_path / "sb3.json"
    config.write_text(json.dumps({"envs": [ENV], "eval_every": 512, "eval_curve_examples": 100}))
    results = tmp_path / "results"
    from_bench.main([str(sb3), "--prefix", "v2-hard", "--warm-start-dir", str(hard_dir), "--same-budget-dir",
                     str(hard_dir), "--config", str(config), "--results", str(results)])
    result = json.loads((results / "v2-hard-translation-sb3-maskable-ppo.json").read_text())
    block = result["same_budget"]
    assert block["env_steps"] == 2048.0 and sorted(block["agents"]) == ["ppo", "rloo", "sb3-maskable-ppo"]
    # the LM agents' eval point nearest 2,048 env steps is their 2,500 one (0 is further away)
    assert [point["env_steps"] for point in block["agents"]["ppo"]["points"]] == [2500.0] * 3
    assert block["agents"]["ppo"]["synthetic_gold"]["mean"] == pytest.approx((0.6 + 0.8 + 0.5) / 3)
    assert block["agents"]["ppo"]["test_synthetic_gold"]["mean"] == pytest.approx(0.65)
    assert block["agents"]["sb3-maskable-ppo"]["synthetic_gold"]["mean"] == pytest.approx(0.44)
    assert block["agents"]["rloo"]["budget_env_steps"] == 5000
    markdown = summarize.v2_markdown([result])
    assert "| rloo | 2,500, 2,500, 2,500 | 0.900 ± 0.000 | 0.910 ± 0.025 (5,000) |" in markdown
    assert "Apart (95% CIs do not overlap): rloo > sb3-maskable-ppo." in markdown


def test_update_readme_writes_each_marked_block(tmp_path, hard_dir) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"envs": [ENV]}))
    results = tmp_path / "results"
    from_bench.main([str(hard_dir), "--prefix", "v2-hard", "--config", str(config), "--results", str(results)])
    readme = tmp_path / "README.md"
    readme.write_text(f"a\n{summarize.V2_BEGIN}\nold\n{summarize.V2_END}\nb\n")
    summarize.main(["--results", str(results), "--update-readme", str(readme)])
    text = readme.read_text()
    assert text.startswith(f"a\n{summarize.V2_BEGIN}\n| task | level | agent |") and text.endswith(
        f"{summarize.V2_END}\nb\n") and "\nold\n" not in text
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit):
        summarize.main(["--results", str(results), "--update-readme", str(readme)])


def test_runs_without_eval_curves_keep_the_v1_file(tmp_path) -> None:
    # The v1 configs have no eval curve: their files keep the v1 format (summarize.py's ceiling table reads it).
    runs = [run_json("greedy", 0, gold_metrics(0.4, 0.3, 0.5, 9.0), [{"env_steps": 0.0}])]
    runs += [run_json("ppo", seed, gold_metrics(gold, 0.5, 0.6, 8.0), [{"env_steps": 5000.0}])
             for seed, gold in enumerate([0.6, 0.7, 0.65])]
    for run in runs:
        run["eval_curve"] = []
    bench = write(tmp_path / "v1", runs)
    config = tmp_path / "v1.json"
    config.write_text(json.dumps({"envs": [ENV]}))
    from_bench.main([str(bench), "--config", str(config), "--results", str(tmp_path / "results")])
    result = json.loads((tmp_path / "results" / "v1-translation-ppo.json").read_text())
    assert "kind" not in result and result["metric"] == "corpus_synthetic_gold"
    assert result["summary"]["mean"] == pytest.approx(0.65)
    assert result["summary"]["gap_closed"] == pytest.approx(0.25 / 0.6)
    assert result["command"] == (f"python -m textenvs bench --config {config.as_posix()} && python benchmarks/learning/"
                                 f"from_bench.py {bench} --config {config} --results {tmp_path / 'results'}")
