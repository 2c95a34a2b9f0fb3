"""TextActionWrapper: whole-response actions on the token-level envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import InvalidAction
from gymnasium.utils.env_checker import check_env

import textenvs  # noqa: F401  (registers the envs)
from textenvs.wrappers import TextActionWrapper
from tests.helpers import chat_tokenizer


def token_by_token(env_id: str, seed: int, tokens: list[int], **kwargs):
    env = gym.make(env_id, **kwargs)
    env.reset(seed=seed)
    total = 0.0
    for token in tokens:
        _, reward, terminated, truncated, info = env.step(token)
        total += reward
        if terminated or truncated:
            return total, terminated, truncated, info
    raise AssertionError("the episode did not end")


@pytest.mark.parametrize("reward_mode", ["terminal", "incremental"])
@pytest.mark.parametrize("env_id", ["textenvs/Translation-v0", "textenvs/Dialogue-v0"])
def test_same_rewards_as_feeding_the_tokens_one_by_one(env_id, reward_mode):
    env = TextActionWrapper(gym.make(env_id, reward_mode=reward_mode))
    prompt, info = env.reset(seed=4)
    example = env.unwrapped.task.dataset[info["example_index"]]
    assert prompt == example.prompt  # short enough to be shown whole
    response = example.references[0]
    _, reward, terminated, truncated, step_info = env.step(response)
    tokenizer = env.unwrapped.task.tokenizer
    expected = token_by_token(env_id, 4, tokenizer.encode(response, add_special_tokens=False)
                              + [tokenizer.eos_token_id], reward_mode=reward_mode)
    assert (reward, terminated, truncated) == pytest.approx(expected[:3])
    assert step_info["metrics"] == expected[3]["metrics"] and step_info["prediction"] == response
    assert reward > 0.9 and terminated and not truncated and not step_info["response_truncated"]


def test_long_responses_are_cut_at_max_new_tokens():
    env = TextActionWrapper(gym.make("textenvs/Translation-v0", max_new_tokens=5))
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step("a man sees a dog in the park and the dog sees him")
    assert terminated and not truncated and info["finish_reason"] == "length"
    assert info["response_truncated"] and len(info["response_ids"]) == 5
    assert info["prediction"] == env.unwrapped.task.tokenizer.decode(info["response_ids"])


def test_empty_and_non_string_responses():
    env = TextActionWrapper(gym.make("textenvs/Translation-v0"))
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step("")
    assert terminated and info["prediction"] == "" and info["response_ids"] == [env.unwrapped.task.eos_token_id]
    assert reward == info["metrics"]["chrf"]
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match="response string"):
        env.step(17)


def test_action_space_admits_every_decoded_generation():
    env = TextActionWrapper(gym.make("textenvs/Summarization-v0", max_new_tokens=12))
    tokenizer = env.unwrapped.task.tokenizer
    rng = np.random.default_rng(0)
    for _ in range(200):
        tokens = rng.integers(5, len(tokenizer), size=int(rng.integers(1, 13))).tolist()
        assert env.action_space.contains(tokenizer.decode(tokens, skip_special_tokens=True))
    assert env.action_space.contains(env.action_space.sample())


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")  # checking the wrapper is the point
def test_chat_observation_is_the_messages_and_check_env_passes():
    tokenizer = chat_tokenizer()
    env = TextActionWrapper(gym.make("textenvs/Summarization-v0", tokenizer=tokenizer, chat_template=True,
                                     system_prompt="summarize .", max_prompt_length=48, max_new_tokens=8))
    messages, info = env.reset(seed=2)
    assert messages[0] == {"role": "system", "content": "summarize ."} and messages[1]["role"] == "user"
    document = env.unwrapped.task.dataset[info["example_index"]].prompt
    assert document.startswith(messages[1]["content"]) and len(messages[1]["content"]) < len(document)  # truncated
    assert env.observation_space.contains(messages)
    check_env(env, skip_render_check=True)
    plain = TextActionWrapper(gym.make("textenvs/Translation-v0", max_new_tokens=8))
    check_env(plain, skip_render_check=True)
