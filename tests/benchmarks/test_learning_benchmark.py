"""benchmarks/learning/ppo_vs_warm_start.py scores a split with the same metrics as the benchmark runner."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from agents.ppo.agent import PPOAgent

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "learning" / "ppo_vs_warm_start.py"


def load_script():
    spec = importlib.util.spec_from_file_location("ppo_vs_warm_start", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluate_passes_example_metadata_to_the_scorer() -> None:
    # The v1 rewards (like key_fact_recall and slot_coverage) read each example's metadata: scoring predictions
    # with references alone raised there. The score must equal the mean reward the env paid for the same episodes.
    script = load_script()
    args = script.build_parser().parse_args(["--name", "test", "--env", "textenvs/Summarization-v1",
                                             "--eval-examples", "6", "--eval-batch", "6"])
    agent = PPOAgent("textenvs/Summarization-v1", {}, seed=0, model="default", iterations=0, progress=False,
                     tensorboard=False)
    scores = script.evaluate(agent, args, {})
    assert scores["examples"] == 6
    assert 0.0 < scores["mean_reward"] < 1.0  # the warm start is imperfect: a score of 0 would hide a broken scorer
    assert scores["corpus_summary_facts"] == pytest.approx(scores["mean_reward"])


def test_seed_summary_student_t_half_width() -> None:
    # Three seeds: half-width = t(0.975, 2) * sample std / sqrt(3), with t = 4.303; one seed has no interval.
    script = load_script()
    summary = script.seed_summary("corpus_bleu", 0.20, [0.21, 0.215, 0.19])
    std = ((0.005 ** 2 + 0.015 ** 2 + 0.01 ** 2) / 2) ** 0.5  # deviations from the mean 0.205
    assert summary["ppo_mean"] == pytest.approx(0.205)
    assert summary["ppo_ci95_half_width"] == pytest.approx(4.303 * std / 3 ** 0.5)
    assert summary["gain"] == pytest.approx(0.005)
    assert summary["seeds_above_warm_start"] == 2
    assert script.seed_summary("corpus_bleu", 0.20, [0.21])["ppo_ci95_half_width"] is None


def test_grpo_agent_trains_from_the_warm_start_and_records_its_metrics(tmp_path) -> None:
    # --agent grpo: the same protocol with the GRPO trainer; its reward and KL (TRL's names) fill the per-seed fields.
    script = load_script()
    assert script.main(["--name", "grpo-smoke", "--agent", "grpo", "--env", "textenvs/Translation-v0",
                        "--warm-start", "default", "--ppo", '{"num_envs": 8, "num_generations": 4, "beta": 0.04}',
                        "--iterations", "2", "--seeds", "0", "--eval-examples", "8", "--eval-batch", "8",
                        "--runs", str(tmp_path / "runs"), "--results", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "grpo-smoke.json").read_text())
    assert results["agent"] == "grpo" and results["ppo_config"]["num_generations"] == 4
    run = results["ppo"][0]
    # (the history is rounded to 5 decimals)
    assert run["train_reward_first"] == pytest.approx(run["history"]["reward"][0], abs=1e-5)
    assert run["final_kl"] == pytest.approx(run["history"]["kl"][-1], abs=1e-5) and run["final_kl"] >= 0
    assert len(run["history"]["completions/mean_length"]) == 2
    assert results["summary"]["metric"] == "corpus_chrf" and run["examples"] == 8


def test_eval_policy_decodes_as_decoding_policy_and_measures_log_ratios() -> None:
    # The evaluation's policy (issue 24) is DecodingPolicy's greedy decoding plus per-token log-ratios to a reference:
    # the same predictions, a log-ratio of exactly 0 against the model itself, and an EOS bias that shortens outputs.
    import gymnasium as gym
    import numpy as np
    from gymnasium.vector import AutoresetMode

    from textenvs.decoding import DecodingPolicy
    from textenvs.evaluation import generate_split

    script = load_script()
    agent = PPOAgent("textenvs/Translation-v0", {}, seed=0, model="default", iterations=0, progress=False,
                     tensorboard=False)
    env = gym.make_vec("textenvs/Translation-v0", num_envs=4, vectorization_mode="vector_entry_point",
                       autoreset_mode=AutoresetMode.DISABLED, split="test", tokenizer=agent.trainer.tokenizer).unwrapped
    indices = list(range(6))  # two chunks of 4, the second padded
    vocab, eos = env.task.vocab_size, env.task.eos_token_id
    expected = generate_split(env, DecodingPolicy(agent.model, vocab_size=vocab), indices)
    policy = script.EvalPolicy(agent.model, vocab, eos, reference=agent.model)
    records = generate_split(env, policy, indices)
    assert [r.prediction for r in records] == [r.prediction for r in expected]
    assert np.all(policy.episode_log_ratios(records, env.num_envs) == 0.0)
    sampler = script.EvalPolicy(agent.model, vocab, eos, greedy=False, reference=agent.model,
                                generator=__import__("torch").Generator().manual_seed(0))
    assert np.all(sampler.episode_log_ratios(generate_split(env, sampler, indices), env.num_envs) == 0.0)
    stopped = generate_split(env, script.EvalPolicy(agent.model, vocab, eos, eos_bias=100.0), indices)
    assert all(r.length == 1 for r in stopped)


def results_file(name: str, bleu: list[float], chrf: list[float], lengths: list[float], reward: list[str]) -> dict:
    """A small results file as ppo_vs_warm_start.py writes it: warm start BLEU 0.22, chrF 0.44, length 15."""
    def measures(b: float, c: float, similarity: float = 0.701) -> dict:
        return {"bleu": b, "chrf": c, "semantic_similarity": similarity, "distinct_1": 0.2, "distinct_2": 0.6,
                "mean_words": 12.0, "length_ratio": 1.0, "empty_fraction": 0.0, "unique_fraction": 0.98}
    runs = [{"corpus_bleu": b, "mean_length": n, "measures": measures(b, c), "seed": seed,
             "kl_to_warm_start": {"mean": 0.5, "sem": 0.05}}
            for seed, (b, c, n) in enumerate(zip(bleu, chrf, lengths))]
    return {"name": name, "agent": "grpo", "env": "textenvs/Translation-v0", "reward_metrics": reward,
            "eval": {"split": "test", "examples": 1000, "scorer": "bleu"},
            "warm_start": {"corpus_bleu": 0.22, "mean_length": 15.0, "measures": measures(0.22, 0.44, 0.7)},
            "ppo": runs}


def test_beyond_reward_flags_and_the_generated_readme_tables(tmp_path) -> None:
    # A BLEU gain with chrF down and 10% shorter outputs is flagged and does not count; a composite-reward gain with
    # MiniLM similarity up counts. summarize.py --markdown builds the README rows from those files, and
    # --update-readme writes them between the markers only.
    import importlib

    script = load_script()
    summarize = importlib.import_module("benchmarks.learning.summarize")
    bleu_only = results_file("bleu-only", [0.23, 0.232, 0.231], [0.438, 0.436, 0.437], [13.5, 13.4, 13.6], ["bleu"])
    composite = results_file("composite", [0.228, 0.229, 0.227], [0.445, 0.446, 0.447], [15.0, 15.1, 14.9],
                             ["bleu", "chrf"])
    for result in (bleu_only, composite):
        result["summary"] = script.seed_summary("corpus_bleu", 0.22, [run["corpus_bleu"] for run in result["ppo"]])
        result["beyond_reward"] = script.beyond_reward(result)
        (tmp_path / f"{result['name']}.json").write_text(json.dumps(result))
    flags = bleu_only["beyond_reward"]["flags"]
    assert bleu_only["beyond_reward"]["second_metrics"] == ["chrf", "semantic_similarity"]
    assert flags[0].startswith("gain only in the reward metric: chrf fell -0.0030")
    assert flags[1] == "shorter outputs: -10.0% tokens" and not bleu_only["beyond_reward"]["gain_counts"]
    assert composite["beyond_reward"]["second_metrics"] == ["semantic_similarity"]
    assert composite["beyond_reward"]["flags"] == [] and composite["beyond_reward"]["gain_counts"]
    (tmp_path / "baselines-multi30k.json").write_text(json.dumps({
        "name": "baselines-multi30k", "kind": "trivial_baselines", "env": "textenvs/Translation-v0",
        "env_kwargs": {"dataset": "../shared/data/multi30k"}, "metric": "corpus_bleu",
        "eval": {"split": "test", "examples": 1000},
        "baselines": {"copy-source": {"corpus_bleu": 0.012, "measures": {"bleu": 0.012, "chrf": 0.2,
                                                                         "mean_words": 11.1}}}}))
    markdown = summarize.real_data_markdown(summarize.load_results(tmp_path))
    rows = {line.split(" | ")[0].strip("| "): line for line in markdown.splitlines()}
    assert ("| bleu-only | grpo (bleu) | corpus_bleu (test, 1000) | 0.2200 | 0.2310 ± 0.0025 (0.2300, 0.2320, 0.2310) "
            "| +0.0110 (3/3) | chrF 0.4400 → 0.4370 (-0.0030), MiniLM 0.7000 → 0.7010 (+0.0010) | "
            "15.00 → 13.50 (-10.0%) | 0.50 ± 0.05, 0.50 ± 0.05, 0.50 ± 0.05 | **does not count**: gain only in the "
            "reward metric: chrf fell -0.0030; shorter outputs: -10.0% tokens |") == rows["bleu-only"]
    assert rows["composite"].endswith("| **counts**: no flag |")
    assert "| chrF (reward) 0.4400 → 0.4460 (+0.0060), MiniLM 0.7000 → 0.7010 (+0.0010) |" in rows["composite"]
    assert ("| multi30k (test, 1000) | copy-source | corpus_bleu 0.0120 | BLEU 0.0120, chrF 0.2000 | 11.1 | "
            "results/baselines-multi30k.json |") in markdown
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{summarize.BEGIN}\nold table\n{summarize.END}\nafter\n")
    summarize.main(["--results", str(tmp_path), "--update-readme", str(readme)])
    text = readme.read_text()
    assert text.startswith(f"intro\n{summarize.BEGIN}\n| experiment |") and text.endswith(f"{summarize.END}\nafter\n")
    assert "old table" not in text and rows["bleu-only"] in text


def load_warm_start_script():
    path = Path(__file__).resolve().parents[2] / "scripts" / "train_real_warm_start.py"
    spec = importlib.util.spec_from_file_location("train_real_warm_start", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def minilm_encoder_decoder(tmp_path_factory):
    """The warm start of scripts/train_real_warm_start.py (MiniLM encoder, a 1-layer GPT-2 decoder), saved."""
    script = load_warm_start_script()
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tokenizer = script.load_tokenizer()
    model = script.build_model(tokenizer, decoder_layers=1, max_target=16)
    directory = tmp_path_factory.mktemp("encdec")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_encoder_decoder_warm_start_loads_and_the_seq2seq_env_reads_its_tokenizer(minilm_encoder_decoder) -> None:
    # Issue 24, item 1 (read-only check of agents.models and the env): the MiniLM EncoderDecoderModel loads as a
    # seq2seq LM, and a seq2seq env takes its WordPiece tokenizer ([SEP] ends an episode).
    import gymnasium as gym

    from agents.models import load_pretrained, observation_mode

    model = load_pretrained(minilm_encoder_decoder)
    assert type(model).__name__ == "EncoderDecoderModel" and observation_mode(model) == "seq2seq"
    samsum = Path(__file__).resolve().parents[3] / "shared" / "data" / "samsum"
    if not samsum.is_dir():
        pytest.skip(f"no SAMSum at {samsum}")
    env = gym.make("textenvs/Summarization-v0", dataset=str(samsum),
                   tokenizer=str(minilm_encoder_decoder), observation_mode="seq2seq", max_prompt_length=64,
                   max_new_tokens=8)
    observation, _ = env.reset(seed=0)
    assert observation["prompt_ids"][0] == model.config.decoder_start_token_id  # [CLS] opens the encoder input
    assert env.unwrapped.task.eos_token_id == env.unwrapped.tokenizer.sep_token_id


def test_textenvs_decoding_decodes_the_encoder_decoder_warm_start(minilm_encoder_decoder) -> None:
    # Issue 24, item 1: textenvs.decoding (rollouts, PPO, GRPO, evaluation) decodes the saved MiniLM + GPT-2
    # EncoderDecoderModel. Its get_decoder() is GPT2LMHeadModel, whose output has no last_hidden_state: decoding.py
    # now runs the decoder's base model and the model's head (tests/envs/test_decoding.py covers a wider decoder,
    # with enc_to_dec_proj, and a BERT decoder). The cached steps and the teacher-forced logits equal the model's
    # own forward.
    import torch
    from tests.helpers import seq2seq_decoding_errors

    from agents.models import load_pretrained

    model = load_pretrained(minilm_encoder_decoder).eval()
    ids = torch.tensor([[101, 7592, 2045, 102], [101, 1037, 102, 0]])
    cached, forced = seq2seq_decoding_errors(model, ids, (ids != 0).long())
    assert max(cached) < 1e-4 and forced < 1e-4, (cached, forced)


def test_grpo_from_the_encoder_decoder_warm_start_end_to_end_with_a_frozen_encoder(minilm_encoder_decoder,
                                                                                   tmp_path) -> None:
    # Issue 24: ppo_vs_warm_start.py runs a seq2seq warm start end to end (evaluation, GRPO, KL, results) with the
    # env in observation_mode "seq2seq"; --freeze-encoder trains the decoder only, as the warm start's recipe did.
    import torch

    from agents.models import load_pretrained

    script = load_script()
    env_kwargs = {"observation_mode": "seq2seq", "tokenizer": str(minilm_encoder_decoder), "max_prompt_length": 32,
                  "max_new_tokens": 6}
    assert script.main(["--name", "encdec", "--agent", "grpo", "--env", "textenvs/Translation-v0",
                        "--env-kwargs", json.dumps(env_kwargs), "--warm-start", str(minilm_encoder_decoder),
                        "--ppo", '{"num_envs": 8, "num_generations": 4, "learning_rate": 1e-3, "beta": 0.04}',
                        "--iterations", "1", "--seeds", "0", "--eval-examples", "4", "--eval-batch", "4",
                        "--freeze-encoder", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "encdec.json").read_text())
    warm = load_pretrained(minilm_encoder_decoder)
    trained = load_pretrained(tmp_path / "runs" / "encdec" / "ppo_seed0" / "model")
    assert results["frozen_parameters"] == sum(parameter.numel() for parameter in warm.encoder.parameters())
    # (the pooler, which the checkpoint lacks, is initialized afresh at each load and unused)
    changed = [name for name, parameter in warm.encoder.state_dict().items()
               if not torch.equal(parameter, trained.encoder.state_dict()[name])]
    assert all(name.startswith("pooler.") for name in changed)
    assert not all(torch.equal(parameter, trained.decoder.state_dict()[name])
                   for name, parameter in warm.decoder.state_dict().items())
    run = results["ppo"][0]
    assert run["examples"] == 4 and run["kl_to_warm_start"]["samples"] == 4 and "semantic_similarity" in run["measures"]
