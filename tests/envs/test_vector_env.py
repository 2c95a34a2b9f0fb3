"""The native batched vector env reproduces SyncVectorEnv over single envs exactly, and stays O(1) per step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import InvalidAction, ResetNeeded
from gymnasium.vector import AutoresetMode

import textenvs
from textenvs.vector import TextGenerationVectorEnv
from tests.helpers import CountingChrF, assert_vector_envs_agree, toy_kwargs


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

    task = native.unwrapped.task
    rng = np.random.default_rng(0)
    finished_episodes = assert_vector_envs_agree(
        native, reference, lambda: _random_actions(rng, task.vocab_size, task.eos_token_id, num_envs), seed=11,
        steps=40)
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


def test_generate_split_records_are_written_by_json_dumps_as_a_predictions_file(tmp_path):
    import json

    pytest.importorskip("leaderboard.cli")  # the leaderboard's extra dependencies
    from leaderboard.cli import read_predictions

    env = gym.make_vec("textenvs/Translation-v0", num_envs=2, **toy_kwargs())
    eos = env.unwrapped.task.eos_token_id
    records = textenvs.generate_split(env, lambda observation: np.full(2, eos))
    line = json.dumps(records[0])  # no to_dict() needed
    assert json.loads(line) == {"example_id": "toy-0", "example_index": 0, "prompt": records[0].prompt,
                                "prediction": "", "references": list(records[0].references),
                                "reward": records[0].reward, "length": 1, "metrics": {"chrf": records[0].reward}}
    assert records[0].to_dict() == records[0] and type(records[0].to_dict()) is dict
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    rows, _ = read_predictions(path)
    assert [row["id"] for row in rows] == [f"toy-{i}" for i in range(5)]


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


@pytest.mark.parametrize("kwargs", [{}, {"reward_mode": "incremental", "max_new_tokens": 5}])
def test_disabled_autoreset_matches_sync_vector_env_with_reset_mask(kwargs):
    num_envs = 3
    native = gym.make_vec("textenvs/Translation-v0", num_envs=num_envs, autoreset_mode=AutoresetMode.DISABLED,
                          **kwargs)
    reference = gym.make_vec("textenvs/Translation-v0", num_envs=num_envs, vectorization_mode="sync",
                             vector_kwargs={"autoreset_mode": AutoresetMode.DISABLED}, **kwargs)
    assert native.metadata["autoreset_mode"] is reference.metadata["autoreset_mode"] is AutoresetMode.DISABLED
    task = native.unwrapped.task
    rng = np.random.default_rng(1)
    restarted = assert_vector_envs_agree(
        native, reference, lambda: _random_actions(rng, task.vocab_size, task.eos_token_id, num_envs), seed=3,
        steps=30, restart_ended=True)
    assert restarted > num_envs


def test_disabled_autoreset_idles_finished_sub_envs_until_reset_mask_restarts_them():
    scorer = CountingChrF()
    env = gym.make_vec("textenvs/Translation-v0", num_envs=2, autoreset_mode="Disabled",
                       **toy_kwargs(scorer=scorer, max_new_tokens=4))
    task = env.unwrapped.task
    word, eos = task.tokenizer.convert_tokens_to_ids("cat"), task.eos_token_id
    env.reset(options={"example_index": np.array([0, 1])})
    _, reward, terminated, _, info = env.step(np.array([eos, word]))
    assert terminated.tolist() == [True, False] and info["_prediction"].tolist() == [True, False]
    final = env.unwrapped._episodes.observation()
    for _ in range(3):
        # Sub-env 0 idles: its action is neither checked (10**6 is outside the vocabulary) nor scored.
        observation, reward, terminated, truncated, info = env.step(np.array([10**6, word]))
        np.testing.assert_array_equal(observation["generated_ids"][0], final["generated_ids"][0])
        assert reward[0] == 0.0 and not terminated[0] and not truncated[0]
        assert "_prediction" not in info or not info["_prediction"][0]
    assert terminated[1] and info["finish_reason"][1] == "length"
    assert scorer.scored == ["", "cat cat cat cat"]  # once per episode, each when it ended
    with pytest.raises(ResetNeeded, match="No episode is running"):
        env.step(np.array([word, word]))
    observation, info = env.reset(options={"reset_mask": np.array([False, True]), "example_index": np.array([4, 2])})
    assert info["_example_index"].tolist() == [False, True] and info["example_index"][1] == 2
    assert observation["generated_mask"][1].sum() == 0 and observation["generated_mask"][0].sum() == 1
    assert env.step(np.array([word, eos]))[2].tolist() == [False, True]
    with pytest.raises(TypeError, match=r"bool numpy array of shape \(2,\)"):
        env.reset(options={"reset_mask": [True, False]})
    with pytest.raises(ValueError, match="selects no sub-env"):
        env.reset(options={"reset_mask": np.zeros(2, dtype=bool)})
    with pytest.raises(ValueError, match="autoreset_mode must be one of"):
        gym.make_vec("textenvs/Translation-v0", num_envs=2, autoreset_mode=AutoresetMode.SAME_STEP, **toy_kwargs())


def test_disabled_autoreset_runs_the_mask_provider_only_for_running_episodes():
    masked_rows = []

    def allow_cat(prompt_ids, prompt_mask, generated_ids, generated_mask):
        masked_rows.append(len(prompt_ids))
        masks = np.zeros((len(prompt_ids), vocab_size), dtype=bool)
        masks[:, cat] = True
        return masks

    kwargs = toy_kwargs(action_mask=allow_cat)
    vocab_size, cat = len(kwargs["tokenizer"]), kwargs["tokenizer"].convert_tokens_to_ids("cat")
    env = gym.make_vec("textenvs/Translation-v0", num_envs=3, autoreset_mode=AutoresetMode.DISABLED, **kwargs)
    eos = env.unwrapped.task.eos_token_id
    env.reset(options={"example_index": np.array([0, 1, 2])})
    assert env.unwrapped.action_masks().sum(axis=1).tolist() == [2, 2, 2] and masked_rows == [3]
    env.step(np.array([eos, cat, eos]))
    masks = env.unwrapped.action_masks()
    assert masked_rows == [3, 1]
    assert masks[0].all() and masks[2].all() and masks[1].sum() == 2  # idle rows: anything goes, and is ignored


def test_close_stops_the_parallel_scorer_workers():
    for make in (lambda kwargs: gym.make("textenvs/Translation-v0", **kwargs),
                 lambda kwargs: gym.make_vec("textenvs/Translation-v0", num_envs=2, **kwargs)):
        env = make(toy_kwargs(scorer="parallel", scorer_kwargs={"scorer": "chrf", "workers": 2, "min_batch": 1}))
        scorer = env.unwrapped.task.scorer
        scorer.score(["a cat", "a dog"], [["a cat"], ["a dog"]])  # starts the pool
        processes = list(scorer._pool._processes.values())
        assert len(processes) == 2 and all(process.is_alive() for process in processes)
        env.close()
        assert scorer._pool is None and not any(process.is_alive() for process in processes)
