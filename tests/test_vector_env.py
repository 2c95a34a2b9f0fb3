"""The native batched vector env reproduces SyncVectorEnv over single envs exactly, and stays O(1) per step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import InvalidAction

import textenvs
from textenvs.vector import TextGenerationVectorEnv
from tests.helpers import toy_kwargs


def _assert_infos_equal(native: dict, reference: dict) -> None:
    assert sorted(native) == sorted(reference)
    for key in native:
        if isinstance(native[key], dict):
            _assert_infos_equal(native[key], reference[key])
        else:
            assert np.array_equal(np.asarray(native[key], dtype=object), np.asarray(reference[key], dtype=object)), key


def _random_actions(rng, vocab_size, eos, num_envs):
    # Mostly ordinary tokens with a fair share of EOS so episodes end at different steps.
    actions = rng.integers(vocab_size, size=num_envs)
    return np.where(rng.random(num_envs) < 0.15, eos, actions)


@pytest.mark.parametrize("env_id, kwargs", [
    ("textenvs/Translation-v0", {}),
    ("textenvs/Dialogue-v0", {"max_new_tokens": 8}),
    ("textenvs/Summarization-v0", {"max_new_tokens": 6, "reward_mode": "incremental"}),
    ("textenvs/Translation-v0", {"observation_mode": "seq2seq", "max_new_tokens": 5}),
])
def test_native_vector_env_matches_sync_vector_env(env_id, kwargs):
    num_envs = 4
    native = gym.make_vec(env_id, num_envs=num_envs, **kwargs)
    assert isinstance(native.unwrapped, TextGenerationVectorEnv)
    reference = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync", **kwargs)
    assert native.single_observation_space == reference.single_observation_space
    assert native.action_space == reference.action_space

    obs_native, info_native = native.reset(seed=11)
    obs_reference, info_reference = reference.reset(seed=11)
    task = native.unwrapped.task
    rng = np.random.default_rng(0)
    finished_episodes = 0
    for _ in range(40):
        for key in obs_native:
            np.testing.assert_array_equal(obs_native[key], obs_reference[key])
        _assert_infos_equal(info_native, info_reference)
        actions = _random_actions(rng, task.vocab_size, task.eos_token_id, num_envs)
        obs_native, r_native, term_native, trunc_native, info_native = native.step(actions)
        obs_reference, r_reference, term_reference, trunc_reference, info_reference = reference.step(actions)
        np.testing.assert_allclose(r_native, r_reference, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(term_native, term_reference)
        np.testing.assert_array_equal(trunc_native, trunc_reference)
        finished_episodes += int((term_native | trunc_native).sum())
    assert finished_episodes > num_envs  # autoreset was exercised


def test_vector_env_is_seeded_per_sub_env_like_sync():
    one = gym.make_vec("textenvs/Dialogue-v0", num_envs=1)
    three = gym.make_vec("textenvs/Dialogue-v0", num_envs=3)
    _, info_one = one.reset(seed=5)
    _, info_three = three.reset(seed=4)
    assert info_one["example_id"][0] == info_three["example_id"][1]


def test_vector_env_rejects_bad_actions():
    env = gym.make_vec("textenvs/Translation-v0", num_envs=2, **toy_kwargs())
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match=r"shape \(2,\)"):
        env.step(np.array([1, 2, 3]))
    with pytest.raises(InvalidAction, match="outside the action space"):
        env.step(np.array([1, 10_000]))


def test_vector_action_masks_batch():
    kwargs = toy_kwargs()
    allowed = [4, 5]
    env = gym.make_vec("textenvs/Translation-v0", num_envs=3, action_mask=allowed, **kwargs)
    env.reset(seed=0)
    masks = env.unwrapped.action_masks()
    assert masks.shape == (3, env.unwrapped.task.vocab_size)
    assert (masks.sum(axis=1) == 3).all()  # the allowed tokens plus EOS


def test_generate_split_runs_each_example_once():
    env = gym.make_vec("textenvs/Translation-v0", num_envs=2, **toy_kwargs())
    task = env.unwrapped.task
    copy_word = task.tokenizer.convert_tokens_to_ids("a")

    def policy(observation):
        steps = observation["generated_mask"].sum(axis=1)
        return np.where(steps < 2, copy_word, task.eos_token_id)

    records = textenvs.generate_split(env, policy)
    assert [r.example_id for r in records] == [f"toy-{i}" for i in range(5)]
    assert all(r.prediction == "a a" and r.length == 3 for r in records)
    summary = textenvs.summarize(records)
    assert set(summary) == {"chrf", "reward", "length"} and summary["length"] == 3.0


def test_step_cost_does_not_grow_with_episode_length():
    """Work per step is independent of position: count tokenizer calls rather than time them."""
    env = gym.make_vec("textenvs/Translation-v0", num_envs=2, max_new_tokens=40)
    task = env.unwrapped.task
    calls = {"encode": 0, "decode": 0}
    encode, decode = task.tokenizer.encode, task.tokenizer.batch_decode

    def counting_encode(*args, **kwargs):
        calls["encode"] += 1
        return encode(*args, **kwargs)

    def counting_decode(*args, **kwargs):
        calls["decode"] += 1
        return decode(*args, **kwargs)

    task.tokenizer.encode, task.tokenizer.batch_decode = counting_encode, counting_decode
    try:
        env.reset(seed=0)
        non_eos = 4 if task.eos_token_id != 4 else 5
        before = dict(calls)
        for _ in range(39):
            env.step(np.array([non_eos, non_eos]))
        assert calls == before  # no tokenization or decoding while episodes run
        env.step(np.array([non_eos, non_eos]))
        assert calls["decode"] == before["decode"] + 1  # one batched decode when both episodes end
    finally:
        task.tokenizer.encode, task.tokenizer.batch_decode = encode, decode
