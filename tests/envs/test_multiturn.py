"""textenvs/MultiTurnDialogue-v0: conversations with a user simulator, token-in token-out."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import textenvs  # noqa: F401  (registers the envs)
from textenvs import users
from textenvs.data.booking_goals import load_booking_goals
from textenvs.scorers import get
from textenvs.wrappers import TextActionWrapper
from tests.helpers import (CHAT_SPECIAL_TOKENS, assert_vector_envs_agree, chat_tokenizer, good_agent_turns,
                           random_turn_actions, say, tiny_model, word_tokenizer)

ENV_ID = "textenvs/MultiTurnDialogue-v0"


def sequence(observation) -> list[int]:
    return (observation["prompt_ids"][observation["prompt_mask"] == 1].tolist()
            + observation["generated_ids"][observation["generated_mask"] == 1].tolist())


def test_a_good_agent_meets_the_goal_and_gets_full_reward():
    env = gym.make(ENV_ID)
    for seed in range(5):
        _, info = env.reset(seed=seed)
        example = env.unwrapped.task.dataset[info["example_index"]]
        for text in good_agent_turns(example):
            _, reward, terminated, truncated, info = say(env, text)
        assert terminated and not truncated and info["end_reason"] == "goal_met"
        assert reward == 1.0 and info["metrics"] == {"goal_score": 1.0, "goal_completion": 1.0, "slot_accuracy": 1.0}
        assert info["prediction"] == example.references[0]
        assert [m["role"] for m in info["conversation"]] == ["user", "assistant"] * (len(info["conversation"]) // 2)


@pytest.mark.parametrize("style", [None, "chatml", "llama3"])
def test_ids_equal_the_tokenized_rendering_of_the_conversation(style):
    kwargs = {} if style is None else {"tokenizer": chat_tokenizer(style), "chat_template": True,
                                       "system_prompt": "you are a booking assistant .", "max_prompt_length": 96}
    env = gym.make(ENV_ID, max_new_tokens=400, max_turns=10, user_simulator_kwargs={"patience": 10}, **kwargs)
    base = env.unwrapped
    tokenizer = base.task.tokenizer
    observation, info = env.reset(seed=7)
    example = base.task.dataset[info["example_index"]]
    turns = ["what would you like ?", "how many people will be staying ?", "what day ?"] + good_agent_turns(example)
    for text in turns:
        start = len(sequence(observation))
        observation, _, terminated, truncated, info = say(env, text)
        ids = sequence(observation)
        messages = info["conversation"] if terminated or truncated else base.messages()
        assert ids == base.conversation_ids(messages)
        if style is not None:  # the template itself, not only our definition of the rendering
            rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=not (terminated or truncated),
                                                     tokenize=False)
            full = tokenizer.encode(rendered, add_special_tokens=False)
            closing = tokenizer.decode(full[len(ids):])  # after the agent's last end-of-turn: the template's newline
            assert ids == full[:len(ids)] and closing.strip() == "" and (closing == "" or terminated or truncated)
        # The agent's positions are exactly the tokens it wrote this turn.
        agent = observation["agent_mask"][observation["generated_mask"] == 1]
        written = base.encode_agent_turn(text) + [base.end_of_turn_token_id]
        offset = start - int(observation["prompt_mask"].sum())
        assert agent[offset:offset + len(written)].all() and not agent[offset + len(written):].any()
        if terminated or truncated:
            break
    assert info["end_reason"] == "goal_met"


def test_agent_tokens_are_appended_without_tokenizing_anything():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    tokenizer = env.unwrapped.task.tokenizer
    calls = []
    original = tokenizer.encode
    tokenizer.encode = lambda *args, **kwargs: calls.append(args) or original(*args, **kwargs)
    try:
        for token in tokenizer("how many people", add_special_tokens=False)["input_ids"]:
            env.step(token)
        assert calls == []  # mid-turn: one array write per token
        env.step(env.unwrapped.end_of_turn_token_id)
        assert len(calls) == 1 and "people" in calls[0][0]  # the user's reply alone, not the history
    finally:
        tokenizer.encode = original


def test_builtin_user_behaviour_and_giving_up():
    env = gym.make(ENV_ID, user_simulator_kwargs={"patience": 3})
    _, info = env.reset(options={"example_index": 0})
    goal = env.unwrapped.task.dataset[0].metadata["goal"]
    outside = next(slot for slot in ("area", "stars", "parking", "food") if slot not in goal)
    _, _, _, _, info = say(env, f"which {outside} do you want ?")
    assert info["user_reply"] == users.DONT_KNOW
    _, _, _, _, info = say(env, f"which {outside} do you want ?")
    assert info["user_reply"] == users.REPEATED
    _, reward, terminated, truncated, info = say(env, "")
    assert terminated and not truncated and (info["end_reason"], info["finish_reason"]) == ("user_gave_up", "stop")
    assert info["user_reply"] == users.GIVE_UP and info["turns"] == 3 and reward == 0.0


def test_empty_turn_and_wrong_booking_get_documented_replies():
    env = gym.make(ENV_ID)
    env.reset(options={"example_index": 1})
    assert say(env, "")[4]["user_reply"] == users.SILENCE
    observation, reward, terminated, _, info = say(env, "i have booked it .")
    assert info["user_reply"].startswith("no , i wanted it") and not terminated


def test_limits_truncate_with_a_reason():
    env = gym.make(ENV_ID, max_turn_tokens=5)
    observation, _ = env.reset(seed=0)
    for step in range(5):
        observation, reward, terminated, truncated, info = env.step(9)  # a turn that never ends
    assert terminated and not truncated and (info["end_reason"], info["finish_reason"]) == ("max_turn_tokens", "length")
    env = gym.make(ENV_ID, max_turns=2)
    env.reset(seed=0)
    say(env, "hello")
    _, _, terminated, truncated, info = say(env, "hello there")
    assert terminated and info["end_reason"] == "max_turns" and info["turns"] == 2
    env = gym.make(ENV_ID, max_new_tokens=12, max_turn_tokens=10)
    env.reset(seed=0)
    _, _, terminated, _, info = say(env, "what kind of food would you like ?")
    assert terminated and info["end_reason"] == "max_conversation_tokens"


def test_seeding_and_vector_env_match_single_envs():
    native = gym.make_vec(ENV_ID, num_envs=3, max_turn_tokens=6, max_new_tokens=48)
    reference = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="sync", max_turn_tokens=6, max_new_tokens=48)
    assert native.single_observation_space == reference.single_observation_space
    assert assert_vector_envs_agree(native, reference, random_turn_actions(native), seed=3, steps=60) >= 3


def test_model_user_decodes_all_sub_envs_in_one_batch(tmp_path):
    tokenizer = word_tokenizer(["i need a taxi to the zoo please", "what time would you like to leave"])
    model = tiny_model("causal", tokenizer)
    user = users.ModelUser(model, tokenizer, max_new_tokens=4)
    batches = []
    respond = user.respond
    user.respond = lambda slots, conversations: batches.append(list(slots)) or respond(slots, conversations)
    env = gym.make_vec(ENV_ID, num_envs=3, user_simulator=user)
    env.reset(seed=0)
    observation, *_ = env.step(np.full(3, env.unwrapped.end_of_turn_token_id))
    assert batches == [[0, 1, 2]]
    replies = [env.unwrapped.messages(i)[-1] for i in range(3)]
    assert all(m["role"] == "user" and isinstance(m["content"], str) for m in replies)
    # A model object given directly plays the user with the env's tokenizer; decoding is greedy, so deterministic.
    single = gym.make(ENV_ID, user_simulator=tiny_model("causal", textenvs.load_tokenizer()),
                      user_simulator_kwargs={"max_new_tokens": 4})
    runs = []
    for _ in range(2):
        single.reset(seed=1)
        runs.append(say(single, "hello")[4]["user_reply"])
    assert runs[0] == runs[1]
    # ... and a local directory works as well (model and tokenizer loaded from it).
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    by_path = gym.make(ENV_ID, user_simulator=str(tmp_path), user_simulator_kwargs={"max_new_tokens": 4})
    by_path.reset(seed=0)
    assert isinstance(by_path.unwrapped._episodes.user, users.ModelUser)
    assert isinstance(say(by_path, "hello")[4]["user_reply"], str)


def test_bad_user_simulators_and_templates_fail_clearly():
    def broken(messages):
        raise ConnectionError("backend down")

    env = gym.make(ENV_ID, user_simulator=broken)
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="raised while answering sub-env.*backend down"):
        say(env, "hi")
    env = gym.make(ENV_ID, user_simulator=lambda messages: 42)
    env.reset(seed=0)
    with pytest.raises(TypeError, match="replied 42 .int. to sub-env 0"):
        say(env, "hi")
    env = gym.make(ENV_ID, user_simulator=lambda messages: "")  # an empty user turn is legal
    env.reset(seed=0)
    assert say(env, "hi")[4]["user_reply"] == "" and env.unwrapped.messages()[-1] == {"role": "user", "content": ""}

    with pytest.raises(ValueError, match="has no chat template"):
        gym.make(ENV_ID, tokenizer=textenvs.load_tokenizer(), chat_template=True)
    tokenizer = chat_tokenizer()
    # Like templates that think only in the newest turn: the prompt's header is not what the history renders.
    tokenizer.chat_template = tokenizer.chat_template.replace(
        "<|im_start|>assistant\n{% endif %}", "<|im_start|>assistant\nthinking\n{% endif %}")
    with pytest.raises(ValueError, match="renders a conversation differently"):
        gym.make(ENV_ID, tokenizer=tokenizer, chat_template=True)
    with pytest.raises(ValueError, match="causal only"):
        gym.make(ENV_ID, observation_mode="seq2seq")
    with pytest.raises(ValueError, match="max_turn_tokens"):
        gym.make(ENV_ID, max_turn_tokens=0)


def test_action_mask_always_allows_ending_the_turn():
    tokenizer = chat_tokenizer()
    env = gym.make(ENV_ID, tokenizer=tokenizer, chat_template=True, action_mask=[5, 6, 7], max_prompt_length=96)
    env.reset(seed=0)
    legal = np.flatnonzero(env.unwrapped.action_masks())
    eot = tokenizer.convert_tokens_to_ids(CHAT_SPECIAL_TOKENS["chatml"][1])
    assert env.unwrapped.end_of_turn_token_id == eot and set(legal) == {5, 6, 7, eot, tokenizer.eos_token_id}


def test_chat_env_passes_check_env():
    env = gym.make(ENV_ID, tokenizer=chat_tokenizer(), chat_template=True, max_prompt_length=96, max_new_tokens=64)
    check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
@pytest.mark.parametrize("chat", [False, True])
def test_text_wrapper_plays_whole_turns_with_the_same_rewards(chat):
    kwargs = {"tokenizer": chat_tokenizer(), "chat_template": True, "max_prompt_length": 96} if chat else {}
    env = TextActionWrapper(gym.make(ENV_ID, **kwargs))
    observation, info = env.reset(seed=2)
    example = env.unwrapped.task.dataset[info["example_index"]]
    shown = observation[-1]["content"] if chat else observation
    assert shown == (example.prompt if chat else f"user: {example.prompt}")
    assert env.observation_space.contains(observation)
    tokens, rewards = [], []
    for text in good_agent_turns(example):
        observation, reward, terminated, truncated, info = env.step(text)
        tokens += info["response_ids"]
        rewards.append(reward)
        assert env.observation_space.contains(observation)
    assert terminated and info["end_reason"] == "goal_met" and rewards[-1] == 1.0
    token_env = gym.make(ENV_ID, **kwargs)
    token_env.reset(seed=2)
    total = sum(token_env.step(token)[1] for token in tokens)
    assert total == sum(rewards)
    check_env(env, skip_render_check=True)


def test_goals_and_goal_scorer():
    test, validation = load_booking_goals("test"), load_booking_goals("validation")
    assert len(test) == 200 and test.content_hash == load_booking_goals("test").content_hash
    goals = [{e.prompt + str(e.metadata["goal"]) for e in split} for split in (test, validation)]
    assert not goals[0] & goals[1]
    scorer = get("dialogue_goal")
    scores = scorer(["i have booked a table for 4 people on monday .", "4 people on monday", ""],
                    metadata=[{"slots": ["4 people", "monday"]}, {"slots": ["4 people", "monday"]},
                              {"slots": ["monday"]}])
    assert scores["goal_completion"].tolist() == [1.0, 0.0, 0.0]
    assert scores["slot_accuracy"].tolist() == [1.0, 1.0, 0.0] and scores["goal_score"].tolist() == [1.0, 0.5, 0.0]


def test_vector_env_without_autoreset_idles_finished_conversations():
    env = gym.make_vec(ENV_ID, num_envs=2, autoreset_mode=gym.vector.AutoresetMode.DISABLED, max_turn_tokens=3)
    env.reset(seed=0)
    # Sub-env 0 writes a turn that never ends (over after 3 tokens); sub-env 1 keeps talking.
    for step in range(3):
        observation, rewards, terminated, truncated, infos = env.step(np.array([9, 9 if step < 1 else 1]))
    assert terminated[0] and infos["end_reason"][0] == "max_turn_tokens"
    observation, rewards, terminated, _, _ = env.step(np.array([9, 9]))
    assert not terminated[0] and rewards[0] == 0.0  # idles until reset
    observation, _ = env.reset(options={"reset_mask": np.array([True, False])})
    assert observation["generated_mask"][0].sum() == 0 and observation["generated_mask"][1].sum() > 0


@pytest.mark.parametrize("spec, error, message", [
    ("./no/such/user-model", FileNotFoundError,
     r"user_simulator='./no/such/user-model': no such directory\. Pass a local causal LM directory"),
    ("biultin", OSError, r"user_simulator='biultin': not a local directory, and loading it as a Hugging Face hub id "
                         r"failed \(\w+\)\. Did you mean 'builtin'\?"),
])
def test_a_bad_user_simulator_path_gets_our_own_error(spec, error, message):
    with pytest.raises(error, match=message):
        gym.make("textenvs/MultiTurnDialogue-v0", user_simulator=spec)
