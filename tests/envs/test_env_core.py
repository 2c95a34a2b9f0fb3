"""The single environment: API contract, spaces, rewards, seeding and every bad-input error."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import InvalidAction, ResetNeeded
from gymnasium.utils.env_checker import check_env

import textenvs
from textenvs.data.dataset import Example, TextDataset
from tests.helpers import toy_dataset, toy_kwargs, word_tokenizer

ENV_IDS = list(textenvs.ENV_IDS)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_default_envs_pass_gymnasium_check_env(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    observation, info = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    assert isinstance(info["example_id"], str)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_default_envs_pass_sb3_check_env(env_id):
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3_checker.check_env(gym.make(env_id).unwrapped, warn=True)


def test_make_with_module_prefix_works_without_prior_import():
    code = ("import gymnasium, sys; env = gymnasium.make('textenvs:textenvs/Dialogue-v0'); env.reset(seed=0); "
            "assert 'textenvs' in sys.modules; print(env.action_space)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Discrete(")


def test_episode_terminates_on_eos_with_scored_info():
    env = gym.make("textenvs/Translation-v0", **toy_kwargs())
    tokenizer = env.unwrapped.task.tokenizer
    observation, info = env.reset(options={"example_index": 0})
    assert info == {"example_id": "toy-0", "example_index": 0}
    reward_sum = 0.0
    for word in "a dog sees a cat".split():
        observation, reward, terminated, truncated, info = env.step(tokenizer.convert_tokens_to_ids(word))
        assert (reward, terminated, truncated, info) == (0.0, False, False, {})
    observation, reward, terminated, truncated, info = env.step(tokenizer.eos_token_id)
    assert terminated and not truncated
    assert info["prediction"] == "a dog sees a cat"
    assert info["references"] == ["a dog sees a cat"]
    assert reward == pytest.approx(1.0) and info["metrics"]["chrf"] == pytest.approx(1.0)
    assert observation["generated_mask"].sum() == 6 and observation["generated_ids"][5] == tokenizer.eos_token_id


def test_the_token_budget_terminates_the_episode_with_its_final_score():
    # The budget is part of the task: the text is final and scored at that step, so it is a termination (learners
    # must not bootstrap past it), told apart from EOS by finish_reason; the env never truncates.
    env = gym.make("textenvs/Translation-v0", **toy_kwargs(max_new_tokens=3))
    env.reset(seed=3)
    word = env.unwrapped.task.tokenizer.convert_tokens_to_ids("cat")
    results = [env.step(word) for _ in range(3)]
    assert [r[2] for r in results] == [False, False, True]
    assert not any(r[3] for r in results)
    info = results[-1][4]
    assert info["prediction"] == "cat cat cat" and info["finish_reason"] == "length"
    assert results[-1][1] == info["metrics"]["chrf"]
    env.reset(seed=3)
    assert env.step(env.unwrapped.task.eos_token_id)[4]["finish_reason"] == "stop"


def test_causal_and_seq2seq_observation_layouts():
    causal = gym.make("textenvs/Translation-v0", **toy_kwargs()).unwrapped
    seq2seq = gym.make("textenvs/Translation-v0", **toy_kwargs(observation_mode="seq2seq")).unwrapped
    tok = causal.task.tokenizer
    content = tok.encode("die katze schläft", add_special_tokens=False)
    obs, _ = causal.reset(options={"example_index": 1})
    assert obs["prompt_ids"][-4:].tolist() == content + [tok.sep_token_id]   # left-padded, ends with separator
    assert obs["prompt_mask"].tolist() == [0] * 6 + [1] * 4
    obs, _ = seq2seq.reset(options={"example_index": 1})
    n = int(obs["prompt_mask"].sum())
    assert obs["prompt_mask"][:n].all() and not obs["prompt_mask"][n:].any()  # right-padded
    assert obs["prompt_ids"][:3].tolist() == content
    assert (obs["prompt_ids"][n:] == tok.pad_token_id).all()


def test_same_seed_same_episodes_and_rewards():
    def run(seed):
        env = gym.make("textenvs/Summarization-v0")
        trace = []
        observation, info = env.reset(seed=seed)
        rng = np.random.default_rng(0)
        for _ in range(60):
            observation, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
            trace.append((observation["generated_ids"].tolist(), reward, terminated, truncated))
            if terminated or truncated:
                trace.append(info["example_id"])
                observation, info = env.reset()
                trace.append(observation["prompt_ids"].tolist())
        return trace

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_incremental_rewards_sum_to_final_score():
    env = gym.make("textenvs/Translation-v0", **toy_kwargs(reward_mode="incremental"))
    tok = env.unwrapped.task.tokenizer
    env.reset(options={"example_index": 3})
    rewards = []
    for word in ["two", "children", "play", "the", "park"]:
        rewards.append(env.step(tok.convert_tokens_to_ids(word))[1])
    observation, reward, terminated, truncated, info = env.step(tok.eos_token_id)
    rewards.append(reward)
    assert sum(rewards) == pytest.approx(info["metrics"]["chrf"])
    assert any(r != 0 for r in rewards[:-1])


def test_callable_scorer_and_scorer_object():
    def first_word_is_a(predictions, references):
        return [float(p.split()[:1] == ["a"]) for p in predictions]

    env = gym.make("textenvs/Translation-v0", **toy_kwargs(scorer=first_word_is_a))
    tok = env.unwrapped.task.tokenizer
    env.reset(seed=0)
    env.step(tok.convert_tokens_to_ids("a"))
    *_, info = env.step(tok.eos_token_id)
    assert info["metrics"] == {"score": 1.0}
    env = gym.make("textenvs/Translation-v0", **toy_kwargs(scorer=textenvs.scorers.get("token_f1")))
    assert env.unwrapped.task.scorer.primary == "token_f1"


def test_vocabulary_action_mask():
    tok = word_tokenizer()
    allowed = tok.convert_tokens_to_ids(["a", "dog", "cat"])
    env = gym.make("textenvs/Translation-v0", **toy_kwargs(tokenizer=tok, action_mask=allowed))
    env.reset(seed=0)
    mask = env.unwrapped.action_masks()
    assert mask.shape == (len(tok),) and mask.dtype == bool
    assert set(np.flatnonzero(mask)) == set(allowed) | {tok.eos_token_id}
    with pytest.raises(InvalidAction, match="masked out"):
        env.step(tok.convert_tokens_to_ids("book"))
    env.step(allowed[0])


def test_top_p_mask_from_reference_model():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from textenvs.masks import TopPMask

    tok = word_tokenizer()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=32, n_embd=16, n_layer=1, n_head=2))
    env = gym.make("textenvs/Translation-v0", **toy_kwargs(tokenizer=tok, action_mask=TopPMask(model, top_p=0.5)))
    observation, _ = env.reset(seed=0)
    mask = env.unwrapped.action_masks()
    ids = torch.as_tensor(np.concatenate([observation["prompt_ids"], observation["generated_ids"][:0]]))[None]
    attention = torch.as_tensor(observation["prompt_mask"], dtype=torch.long)[None]
    positions = (attention.cumsum(1) - 1).clamp(min=0)
    probs = model(input_ids=ids, attention_mask=attention, position_ids=positions).logits[0, -1].softmax(-1)
    kept = probs[torch.as_tensor(mask)].sum().item()
    assert kept >= 0.5 - 1e-6 and mask.sum() < len(tok)
    legal = int(np.flatnonzero(mask)[0])
    env.step(legal)


# ----- bad input -------------------------------------------------------------------------------------------------

@pytest.fixture
def toy_env():
    env = gym.make("textenvs/Translation-v0", **toy_kwargs())
    env.reset(seed=0)
    return env


@pytest.mark.parametrize("action, message", [
    (10_000, "outside the action space"), (-1, "outside the action space"),
    (1.5, "integer token ids"), ("cat", "got a string: .cat.*TextActionWrapper"), ([1, 2], "shape"),
])
def test_invalid_actions_are_rejected(toy_env, action, message):
    with pytest.raises(InvalidAction, match=message):
        toy_env.unwrapped.step(action)


def test_step_after_episode_end_and_before_reset():
    env = gym.make("textenvs/Translation-v0", **toy_kwargs()).unwrapped
    with pytest.raises(ResetNeeded, match="reset"):
        env.step(1)
    env.reset(seed=0)
    env.step(env.task.eos_token_id)
    with pytest.raises(ResetNeeded, match="episode has ended"):
        env.step(4)


def test_unknown_names_list_what_exists():
    with pytest.raises(gym.error.Error, match="Translation"):
        gym.make("textenvs/Translaton-v0")
    with pytest.raises(ValueError, match="Available: .*chrf"):
        gym.make("textenvs/Translation-v0", **toy_kwargs(scorer="blue"))
    with pytest.raises(ValueError, match="synthetic-translation"):
        gym.make("textenvs/Translation-v0", **toy_kwargs(dataset="no-such-dataset"))
    with pytest.raises(ValueError, match="observation_mode"):
        gym.make("textenvs/Translation-v0", **toy_kwargs(observation_mode="decoder"))


def test_tokenizer_without_eos_or_pad_is_rejected():
    with pytest.raises(ValueError, match="no EOS token"):
        gym.make("textenvs/Translation-v0", **toy_kwargs(tokenizer=word_tokenizer(eos=False)))
    with pytest.raises(ValueError, match="no pad token"):
        gym.make("textenvs/Translation-v0", **toy_kwargs(tokenizer=word_tokenizer(pad=False)))


def test_empty_dataset_is_rejected():
    with pytest.raises(ValueError, match="empty"):
        TextDataset([], "empty", "train")


def test_prompt_truncation_policies():
    long = TextDataset([Example("long", "a dog sees a cat and a man reads a book", ("x",))], "long", "train")
    tok = word_tokenizer()
    content = tok.encode("a dog sees a cat and a man reads a book", add_special_tokens=False)
    kwargs = dict(tokenizer=tok, dataset=long, max_prompt_length=5, max_new_tokens=2)
    with pytest.raises(ValueError, match="has 11 tokens; the limit is 4"):
        gym.make("textenvs/Translation-v0", prompt_truncation="error", **kwargs).reset(seed=0)
    obs, _ = gym.make("textenvs/Translation-v0", prompt_truncation="right", **kwargs).reset(seed=0)
    assert obs["prompt_ids"].tolist() == content[:4] + [tok.sep_token_id]
    obs, _ = gym.make("textenvs/Translation-v0", prompt_truncation="left", **kwargs).reset(seed=0)
    assert obs["prompt_ids"].tolist() == content[-4:] + [tok.sep_token_id]


def test_example_index_out_of_range(toy_env):
    with pytest.raises(IndexError, match="out of range"):
        toy_env.reset(options={"example_index": 99})


def test_render_ansi():
    env = gym.make("textenvs/Translation-v0", render_mode="ansi", **toy_kwargs())
    env.reset(options={"example_index": 1})
    env.step(env.unwrapped.task.tokenizer.convert_tokens_to_ids("cat"))
    assert env.render() == "[toy-1] die katze schläft\n>>> cat"


def test_mask_provider_runs_once_per_state():
    """An agent's action_masks() and the legality check inside step() share one provider call per state."""
    tok = word_tokenizer()
    allowed = np.zeros(len(tok), dtype=bool)
    allowed[tok.convert_tokens_to_ids(["a", "dog"])] = True
    calls = []

    def provider(prompt_ids, prompt_mask, generated_ids, generated_mask):
        calls.append(generated_mask.sum(axis=1).tolist())
        return np.broadcast_to(allowed, (len(prompt_ids), len(allowed)))

    env = gym.make("textenvs/Translation-v0", **toy_kwargs(tokenizer=tok, action_mask=provider)).unwrapped
    env.reset(seed=0)
    for _ in range(3):
        mask = env.action_masks()
        env.step(int(np.flatnonzero(mask & (np.arange(len(mask)) != tok.eos_token_id))[0]))
    assert calls == [[0], [1], [2]]
    env.reset(seed=1)
    env.action_masks()
    assert calls[-1] == [0] and len(calls) == 4


def test_env_classes_show_their_real_keyword_arguments_and_expose_the_tokenizer():
    import inspect

    from textenvs.tasks.multiturn_dialogue import MultiTurnDialogueVectorEnv
    from textenvs.tasks.translation import TranslationEnv, TranslationVectorEnv

    single = inspect.signature(TranslationEnv).parameters
    assert list(single)[:3] == ["render_mode", "tokenizer", "dataset"] and "task_kwargs" not in single
    assert single["max_new_tokens"].kind is inspect.Parameter.KEYWORD_ONLY and single["split"].default == "train"
    vector = inspect.signature(TranslationVectorEnv).parameters
    assert {"num_envs", "autoreset_mode", "scorer", "system_prompt"} <= set(vector)
    multiturn = inspect.signature(MultiTurnDialogueVectorEnv).parameters
    assert {"user_simulator", "max_turns", "tokenizer"} <= set(multiturn) and "task_kwargs" not in multiturn
    env = gym.make("textenvs/Translation-v0", **toy_kwargs())
    assert env.unwrapped.tokenizer is env.unwrapped.task.tokenizer
    envs = gym.make_vec("textenvs/Translation-v0", num_envs=2, **toy_kwargs())
    assert envs.unwrapped.tokenizer is envs.unwrapped.task.tokenizer


def test_task_spec_resolves_the_defaults_for_the_env_and_the_helpers():
    """One default resolution (``TaskSpec.resolve_dataset`` / ``resolve_scorer``): the env and
    ``load_env_dataset`` / ``load_env_scorer`` read the same split and score with the same scorer."""
    from textenvs.data.builtin import load_builtin
    from textenvs.scorers import make_scorer

    spec = textenvs.env_class("textenvs/Translation-v0").task_spec
    assert spec.resolve_scorer().config() == make_scorer(spec.default_scorer).config()
    assert spec.resolve_scorer("bleu").name == "bleu"
    assert spec.resolve_dataset(split="test").content_hash == load_builtin(spec.default_dataset, "test").content_hash
    for kwargs in ({}, {"scorer": "rouge1", "dataset": toy_dataset("test")}):
        env = gym.make("textenvs/Translation-v0", split="test", **kwargs).unwrapped
        assert textenvs.load_env_scorer("textenvs/Translation-v0", **kwargs).config() == env.task.scorer.config()
        assert (textenvs.load_env_dataset("textenvs/Translation-v0", split="test", **kwargs).content_hash
                == env.task.dataset.content_hash)
