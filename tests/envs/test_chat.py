"""Chat-template prompts (``chat_template=True``, ``system_prompt=...``) for every env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import textenvs
from tests.helpers import chat_tokenizer, toy_kwargs, word_tokenizer

TASK_IDS = ["textenvs/Translation-v0", "textenvs/Summarization-v0", "textenvs/Dialogue-v0"]


def prompt_tokens(observation) -> list[int]:
    return observation["prompt_ids"][observation["prompt_mask"] == 1].tolist()


@pytest.mark.parametrize("style", ["chatml", "llama3"])
@pytest.mark.parametrize("env_id", TASK_IDS)
def test_prompt_is_the_tokenizers_chat_template(env_id, style):
    tokenizer = chat_tokenizer(style)
    env = gym.make(env_id, tokenizer=tokenizer, chat_template=True, system_prompt="you are a helpful assistant .",
                   max_prompt_length=256).unwrapped
    observation, info = env.reset(seed=3)
    prompt = env.task.dataset[info["example_index"]].prompt
    messages = [{"role": "system", "content": "you are a helpful assistant ."}, {"role": "user", "content": prompt}]
    expected = tokenizer.encode(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False),
                                add_special_tokens=False)
    assert prompt_tokens(observation) == expected
    assert observation["prompt_mask"][-1] == 1  # still left-padded: generation continues right after the header
    assert env.observation_space.contains(observation)


def test_default_layout_is_unchanged_and_no_system_message_without_system_prompt():
    tokenizer = chat_tokenizer()
    plain = gym.make("textenvs/Translation-v0", tokenizer=tokenizer).unwrapped
    observation, info = plain.reset(seed=0)
    prompt = plain.task.dataset[info["example_index"]].prompt
    assert prompt_tokens(observation) == tokenizer.encode(prompt, add_special_tokens=False) + [tokenizer.sep_token_id]

    chat = gym.make("textenvs/Translation-v0", tokenizer=tokenizer, chat_template=True).unwrapped
    observation, _ = chat.reset(seed=0)
    text = tokenizer.decode(prompt_tokens(observation))
    assert text == f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize("truncation", ["left", "right"])
def test_long_prompts_are_cut_inside_the_user_message(truncation):
    tokenizer = chat_tokenizer()
    env = gym.make("textenvs/Summarization-v0", tokenizer=tokenizer, chat_template=True, max_prompt_length=40,
                   prompt_truncation=truncation).unwrapped
    observation, info = env.reset(seed=1)
    ids = prompt_tokens(observation)
    assert len(ids) <= 40
    text = tokenizer.decode(ids)
    assert text.startswith("<|im_start|>user\n") and text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    content = text[len("<|im_start|>user\n"):-len("<|im_end|>\n<|im_start|>assistant\n")]
    words = env.task.dataset[info["example_index"]].prompt.split()
    kept = content.split()
    assert kept == (words[-len(kept):] if truncation == "left" else words[:len(kept)])
    assert 0 < len(kept) < len(words)
    with pytest.raises(ValueError, match="max_prompt_length"):
        gym.make("textenvs/Summarization-v0", tokenizer=tokenizer, chat_template=True, max_prompt_length=40,
                 prompt_truncation="error").reset(seed=1)


def test_chat_template_env_passes_check_env():
    env = gym.make("textenvs/Dialogue-v0", tokenizer=chat_tokenizer(), chat_template=True, system_prompt="be brief .",
                   max_new_tokens=8)
    check_env(env.unwrapped, skip_render_check=True)
    assert env.unwrapped.task.config()["chat_template"] is True


def test_vector_env_renders_the_same_chat_prompts():
    tokenizer = chat_tokenizer()
    single = gym.make("textenvs/Dialogue-v0", tokenizer=tokenizer, chat_template=True).unwrapped
    vector = gym.make_vec("textenvs/Dialogue-v0", num_envs=2, vectorization_mode="vector_entry_point",
                          tokenizer=tokenizer, chat_template=True)
    observations, _ = vector.reset(seed=5)
    observation, _ = single.reset(seed=6)  # sub-env 1 is seeded with seed + 1
    np.testing.assert_array_equal(observations["prompt_ids"][1], observation["prompt_ids"])


def test_chat_template_errors_name_the_problem():
    with pytest.raises(ValueError, match="has no chat template"):
        gym.make("textenvs/Translation-v0", **toy_kwargs(tokenizer=word_tokenizer()), chat_template=True)
    with pytest.raises(ValueError, match="observation_mode='causal'"):
        gym.make("textenvs/Translation-v0", tokenizer=chat_tokenizer(), chat_template=True,
                 observation_mode="seq2seq")
    with pytest.raises(ValueError, match="pass chat_template=True"):
        gym.make("textenvs/Translation-v0", system_prompt="hi")
    with pytest.raises(ValueError, match="no room for the prompt"):
        gym.make("textenvs/Translation-v0", tokenizer=chat_tokenizer(), chat_template=True,
                 max_prompt_length=4).reset(seed=0)
    assert textenvs.GenerationTask  # the package exports the task whose arguments these are


@pytest.mark.parametrize("style", ["chatml", "llama3"])
def test_readme_chat_example_works_with_the_builtin_tokenizer_and_names_unknown_characters(style):
    """README: gym.make("textenvs/Dialogue-v0", tokenizer=..., chat_template=True,
    system_prompt="You are a booking assistant.") with the built-in tokenizer (lowercase only) given a template."""
    with pytest.warns(UserWarning, match=r"system_prompt 'You are a booking assistant\.' has characters tokenizer "
                                         r".* does not know: 'Y'; each becomes <unk> in every prompt"):
        env = textenvs.TextActionWrapper(gym.make("textenvs/Dialogue-v0", tokenizer=chat_tokenizer(style),
                                                  chat_template=True, system_prompt="You are a booking assistant."))
    messages, _ = env.reset(seed=0)
    assert messages[0] == {"role": "system", "content": "You are a booking assistant."}
    assert messages[1]["role"] == "user" and messages[1]["content"] == env.unwrapped.task.dataset[
        env.unwrapped._episodes.example_index[0]].prompt
    _, reward, terminated, _, info = env.step("what day would you like ?")
    assert terminated and info["prediction"] == "what day would you like ?" and 0 <= reward <= 1


def test_unknown_characters_are_listed_once_in_order():
    from textenvs.chat import unknown_characters

    assert unknown_characters(chat_tokenizer(), "You are Émile, YOU . ok") == ["Y", "É", "O", "U"]
    assert unknown_characters(chat_tokenizer(), "you are a booking assistant .") == []
