"""textenvs/MultiTurnDialogue-v1: a user who behaves like one, a goal check that reads the booking, held-out goals,
per-turn rewards, and a model user told its goal (issue 25)."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import agents
import textenvs  # noqa: F401  (registers the envs)
from textenvs import users
from textenvs.data.booking_goals import (NAME_V1, goal_key, held_out_combination, load_booking_goals,
                                         load_booking_goals_v1)
from textenvs.data.generators.dialogue import _FOODS, _PLACES, _QUESTIONS
from textenvs.data.generators.summarization import _DAYS
from textenvs.scorers import get
from textenvs.scorers.booking_goal import check_booking, parse_booking, stated_values
from tests.helpers import (assert_vector_envs_agree, chat_tokenizer, good_agent_turns, random_turn_actions, say,
                           tiny_model)

ENV_ID = "textenvs/MultiTurnDialogue-v1"

FIXED_FIRST_TURN = ("what food , how many people , what day , what time , departing from , what destination , "
                    "how many nights ?")
"""The fixed script's first turn (issue 25): every question at once, the same for every goal."""
_NUMBER = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_NUMBERS = {word: value for value, word in enumerate(
    "one two three four five six seven eight nine ten eleven twelve".split(), start=1)}


def script_confirmation(conversation) -> str:
    """The fixed script's confirmation: every value a regex finds in the user's words, copied into a booking."""
    text = " ".join(m["content"] for m in conversation if m["role"] == "user")
    number = lambda word: int(word) if word.isdigit() else _NUMBERS[word]  # noqa: E731
    kind = "taxi" if "taxi" in text else "hotel" if "hotel" in text else "table"
    parts = [f"for {number(m[1])} people" for m in re.finditer(rf"\b{_NUMBER} (people|of us)", text)]
    parts += [f"at a {m[1]} restaurant" for m in re.finditer(rf"\b({'|'.join(_FOODS)})\b", text)]
    parts += [f"on {m[1]}" for m in re.finditer(rf"\b({'|'.join(_DAYS)})\b", text)]
    parts += [f"{m[1]} the {m[2]}" for m in re.finditer(r"\b(from|to) the (\w+)", text)]
    parts += [f"{m[1]} {number(m[2])} {m[3]}" for m in re.finditer(rf"\b(leaving at|arriving by|at) {_NUMBER} (am|pm)",
                                                                    text)]
    parts += [f"for {number(m[1])} nights" for m in re.finditer(rf"\b{_NUMBER} nights?\b", text)]
    return f"i have booked a {kind} " + " ".join(dict.fromkeys(parts)) + " ."


def run_fixed_script(env, index: int) -> dict:
    env.reset(options={"example_index": index})
    result = say(env, FIXED_FIRST_TURN)
    while not result[2]:
        result = say(env, script_confirmation(env.unwrapped.messages()))
    return result[4]


def first_example(dataset, intent: str):
    return next(k for k, example in enumerate(dataset) if example.metadata["intent"] == intent)


def test_a_good_agent_meets_every_test_goal_with_metrics():
    env = gym.make(ENV_ID, split="test")
    turns = []
    for index in range(len(env.unwrapped.task.dataset)):
        env.reset(options={"example_index": index})
        example = env.unwrapped.task.dataset[index]
        for text in good_agent_turns(example):
            _, reward, terminated, _, info = say(env, text)
        assert terminated and info["end_reason"] == "goal_met" and reward == 1.0
        assert info["metrics"]["format_violations"] == 0.0 and info["metrics"]["slot_precision"] == 1.0
        turns.append(info["metrics"]["turns"])
    assert min(turns) >= 3  # at least two questions and the booking: the opening never names all but one slot


def test_the_fixed_script_of_the_issue_completes_almost_no_test_goal():
    env = gym.make(ENV_ID, split="test")
    infos = [run_fixed_script(env, index) for index in range(200)]
    completed = sum(info["end_reason"] == "goal_met" for info in infos)
    assert completed / 200 <= 0.05
    assert np.mean([info["metrics"]["format_violations"] for info in infos]) >= 1.0  # the list is flagged
    # The same script on v0 (the phrase check and the v0 user) completes many goals: v0 stays as it was.
    v0 = gym.make("textenvs/MultiTurnDialogue-v0", split="test")
    assert sum(run_fixed_script(v0, index)["end_reason"] == "goal_met" for index in range(50)) >= 15


def test_bookings_that_must_not_complete():
    dataset = load_booking_goals_v1("test")
    taxi = dataset[first_example(dataset, "book_taxi")]
    goal, intent, right = taxi.metadata["goal"], "book_taxi", taxi.references[0]
    departure, destination = goal["departure"], goal["destination"]
    swapped = right.replace(f"from the {departure}", "from the @").replace(
        f"to the {destination}", f"to the {departure}").replace("from the @", f"from the {destination}")
    other = "arriving by" if goal["time"][2] == "leave" else "leaving at"
    wrong_direction = re.sub(r"(leaving at|arriving by)", other, right)
    every_place = "i have booked a taxi " + " ".join(f"from the {p} to the {p}" for p in _PLACES) + " ."
    hedged = right.replace(f"from the {departure}", f"from the {departure} or the {destination}")
    negated = "cancelled not booked : " + right
    couldnt = right.replace("i have booked", "i couldn't get it booked")
    unplaced = right.replace(f"to the {destination}", f"the {destination}")
    extra = right.replace(" .", " on monday .")
    wrong_kind = right.replace("taxi", "hotel")
    assert check_booking(right, intent, goal).complete
    for text in (swapped, wrong_direction, every_place, hedged, negated, couldnt, unplaced, extra, wrong_kind):
        assert not check_booking(text, intent, goal).complete, text
    scores = get("booking_goal")([right, swapped, every_place, negated], metadata=[taxi.metadata] * 4)
    assert scores["goal_completion"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert scores["goal_score"][0] == 1.0 and scores["goal_score"][2] < 0.1 and scores["goal_score"][3] == 0.0
    # Restaurants and hotels: every candidate value, and a hedge, fail too.
    for kind in ("book_restaurant", "book_hotel"):
        example = dataset[first_example(dataset, kind)]
        text = example.references[0]
        everything = text.replace(" .", " " + " ".join(_DAYS) + " .")
        assert check_booking(text, kind, example.metadata["goal"]).complete
        assert not check_booking(everything, kind, example.metadata["goal"]).complete
        assert not check_booking(text.replace(" people", " or 9 people"), kind, example.metadata["goal"]).complete
    # In the env: a swapped taxi booking does not end the conversation; the user corrects it.
    env = gym.make(ENV_ID, split="test")
    env.reset(options={"example_index": first_example(dataset, "book_taxi")})
    _, reward, terminated, _, info = say(env, swapped)
    assert not terminated and info["user_reply"].startswith("no , i wanted it")


def test_parser_reads_roles_and_the_users_ways_of_saying_values():
    parsed = parse_booking("a taxi from the zoo to the museum , arriving by 19:00 , for three of us")
    assert parsed.values == [("departure", "zoo"), ("destination", "museum"), ("time", (7, "pm", "arrive")),
                             ("people", 3)]
    assert parse_booking("leaving at seven in the morning").values == [("time", (7, "am", "leave"))]
    assert parse_booking("the zoo , 4 please").unassigned == ["zoo", "4"]


def test_user_answers_one_question_and_refuses_malformed_turns():
    env = gym.make(ENV_ID, split="test", max_turns=12, max_new_tokens=400,
                   user_simulator_kwargs={"patience": 10, "volunteer_rate": 0.0})
    dataset = env.unwrapped.task.dataset
    index = first_example(dataset, "book_restaurant")
    example = dataset[index]
    untold = [slot for slot in example.metadata["goal"] if slot not in example.metadata["opening"]]
    env.reset(options={"example_index": index})
    assert say(env, FIXED_FIRST_TURN)[4]["user_reply"] == users.SEVERAL_QUESTIONS
    assert say(env, "what day and what time ?")[4]["user_reply"] == users.SEVERAL_QUESTIONS
    assert say(env, "the weather is nice today .")[4]["user_reply"] == users.UNCLEAR
    assert say(env, "tell me the food")[4]["user_reply"] == users.UNCLEAR  # a slot, but not a question
    assert say(env, " ".join(["please"] * 30) + " ?")[4]["user_reply"] == users.TOO_LONG
    assert say(env, "which area would you like ?")[4]["user_reply"] == users.DONT_KNOW
    question = _QUESTIONS["book_restaurant", untold[0]][0]
    reply = say(env, question)[4]["user_reply"]
    told = parse_booking(reply).slot_values(untold[0]) or parse_booking(reply).unassigned
    assert told, reply  # the answer states the slot
    wrong_people = example.metadata["goal"]["people"] % 8 + 2
    reply = say(env, f"so a table for {wrong_people} people ?")[4]["user_reply"]
    assert reply.startswith("no , ") and parse_booking(reply).slot_values("people") == \
        [example.metadata["goal"]["people"]]
    _, _, terminated, _, info = say(env, "")
    assert not terminated and info["user_reply"] == users.SILENCE
    # Every refused turn above was counted as a format violation.
    for text in good_agent_turns(example)[-1:]:
        _, reward, terminated, _, info = say(env, text)
    assert info["end_reason"] == "goal_met" and info["metrics"]["format_violations"] == 6.0


def test_a_list_of_questions_wastes_patience_and_the_user_gives_up():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    say(env, FIXED_FIRST_TURN)
    say(env, "how can i help you ?")
    _, reward, terminated, _, info = say(env, "what food , what day ?")
    assert terminated and info["end_reason"] == "user_gave_up" and info["metrics"]["format_violations"] == 3.0


def test_volunteering_happens_at_the_documented_rate():
    dataset = load_booking_goals_v1("train")
    counts = Counter()
    for rate in (0.0, 0.2, 1.0):
        user = users.BookingUserV1(volunteer_rate=rate, patience=10)
        for slot, example in enumerate(dataset.select(range(400))):
            user.start(slot, example)
            intent = example.metadata["intent"]
            asked = next(s for s in example.metadata["goal"] if s not in example.metadata["opening"])
            reply = user.respond([slot], [[{"role": "assistant", "content": _QUESTIONS[intent, asked][0]}]])[0]
            counts[rate, "answers"] += 1
            counts[rate, "volunteered"] += reply.new_slots == 2
    assert counts[0.0, "volunteered"] == 0 and counts[1.0, "volunteered"] == counts[1.0, "answers"]
    assert 0.15 <= counts[0.2, "volunteered"] / counts[0.2, "answers"] <= 0.25


def test_a_user_who_changes_its_mind_is_tracked_by_the_goal_check():
    env = gym.make(ENV_ID, split="test", user_simulator_kwargs={"change_of_mind": 1.0, "volunteer_rate": 0.0})
    dataset = env.unwrapped.task.dataset
    changed = 0
    for index in range(20):
        example = dataset[index]
        env.reset(options={"example_index": index})
        turns = good_agent_turns(example)
        replies = [say(env, text)[4].get("user_reply", "") for text in turns[:-1]]
        assert any("actually , make that" in reply for reply in replies)
        _, reward, terminated, _, info = say(env, turns[-1])  # books the goal it started with
        new_goal = env.unwrapped._episodes.user.current_goal(0)
        assert new_goal is not None and new_goal != example.metadata["goal"]
        assert not terminated and info["user_reply"].startswith("no , i wanted it")
        changed += 1
    assert changed == 20


def test_goals_are_held_out_and_the_compositional_split_is_disjoint():
    splits = {split: load_booking_goals_v1(split) for split in ("train", "validation", "test", "test_compositional")}
    keys = {split: {goal_key(example) for example in data} for split, data in splits.items()}
    for split in ("validation", "test", "test_compositional"):
        assert not keys[split] & keys["train"], split
    assert not keys["test"] & keys["validation"] and not keys["test_compositional"] & keys["test"]
    assert all(held_out_combination(e.metadata["intent"], e.metadata["goal"]) for e in splits["test_compositional"])
    for split in ("train", "validation", "test"):
        assert not any(held_out_combination(e.metadata["intent"], e.metadata["goal"]) for e in splits[split])
    # Every single (intent, slot, value) of a compositional goal is seen in train; its pair never is.
    seen = {(e.metadata["intent"], slot, str(value)) for e in splits["train"] for slot, value in e.metadata["goal"].items()}
    parts = {(e.metadata["intent"], slot, str(value)) for e in splits["test_compositional"]
             for slot, value in e.metadata["goal"].items()}
    assert parts <= seen
    assert {e.metadata["intent"] for e in splits["test_compositional"]} == {"book_restaurant", "book_taxi", "book_hotel"}
    # v0's goals are unchanged (recorded results stay reproducible), and leaked: the reason for the new split.
    v0_test, v0_train = load_booking_goals("test"), load_booking_goals("train")
    v0_keys = {goal_key(example) for example in v0_train}
    assert sum(goal_key(example) in v0_keys for example in v0_test) == 55
    env = gym.make(ENV_ID, split="test_compositional")
    assert env.unwrapped.task.dataset.name == NAME_V1 and len(env.unwrapped.task.dataset) == 200


def test_per_turn_rewards_and_penalty():
    dataset = load_booking_goals_v1("test")
    index = first_example(dataset, "book_hotel")
    example = dataset[index]
    turns = good_agent_turns(example)
    rewards = {}
    for kwargs in ({}, {"turn_reward": 0.5}, {"turn_penalty": 0.1}):
        env = gym.make(ENV_ID, split="test", user_simulator_kwargs={"volunteer_rate": 0.0}, **kwargs)
        env.reset(options={"example_index": index})
        rewards[str(kwargs)] = [say(env, text)[1] for text in turns]
    goal_slots = len(example.metadata["goal"])
    asked = len(turns) - 1
    assert rewards["{}"] == [0.0] * asked + [1.0]
    # Each answered question tells one new slot; the booking newly confirms every slot.
    assert rewards["{'turn_reward': 0.5}"] == pytest.approx([0.5 / goal_slots] * asked + [1.0 + 0.5])
    assert rewards["{'turn_penalty': 0.1}"] == pytest.approx([-0.1] * asked + [0.9])
    with pytest.raises(TypeError):
        gym.make("textenvs/MultiTurnDialogue-v0", turn_reward=0.5)


def test_vector_env_matches_single_envs():
    native = gym.make_vec(ENV_ID, num_envs=3, max_turn_tokens=6, max_new_tokens=48)
    reference = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="sync", max_turn_tokens=6, max_new_tokens=48)
    assert assert_vector_envs_agree(native, reference, random_turn_actions(native), seed=3, steps=40) >= 1


def test_a_model_user_is_told_its_goal():
    tokenizer = chat_tokenizer()
    example = load_booking_goals_v1("test")[first_example(load_booking_goals_v1("test"), "book_taxi")]
    persona = users.persona_prompt(example.metadata)
    goal = example.metadata["goal"]
    assert persona == "my goal : i want " + example.references[0].removeprefix("i have booked ")
    assert f"from the {goal['departure']} to the {goal['destination']}" in persona
    user = users.ModelUser(tiny_model("causal", tokenizer), tokenizer, persona=True)
    user.start(0, example)
    conversation = [{"role": "system", "content": "you are a booking assistant ."},
                    {"role": "user", "content": example.prompt},
                    {"role": "assistant", "content": "where will you be departing from ?"}]
    prompt = user.prompt(conversation, persona)
    assert prompt.startswith(f"<|im_start|>system\n{persona}") and "booking assistant" not in prompt
    plain_tokenizer = textenvs.load_tokenizer()
    plain = users.ModelUser(tiny_model("causal", plain_tokenizer), plain_tokenizer, persona=True)
    assert plain.prompt(conversation, persona).split("\n")[0] == persona
    # v0 keeps the model user as it was: no persona, the agent's system prompt not shown in the plain layout.
    assert users.ModelUser(tiny_model("causal", plain_tokenizer), plain_tokenizer).prompt(conversation).split("\n")[0] == example.prompt


USER_MODEL = Path(agents.__file__).parent / "checkpoints" / "multiturn_user-v1"
"""The shipped user model (``scripts/train_user_model.py --out agents/checkpoints/multiturn_user-v1``)."""


def test_the_trained_user_model_states_the_goal_values_the_rule_user_would():
    """A real causal LM trained here on the rule user's turns, told each held-out goal by its persona: its answers to
    the agent's questions state the values the rule user states (the agreement the script reports, on fewer
    goals)."""
    from agents.sft.conversations import BookingDemonstrator
    from transformers import AutoModelForCausalLM

    tokenizer = textenvs.load_tokenizer()
    model_user = users.ModelUser(AutoModelForCausalLM.from_pretrained(USER_MODEL), tokenizer, persona=True,
                                 history_turns=3)
    examples = list(load_booking_goals_v1("test_compositional").select(range(40)))
    rule = users.BookingUserV1(volunteer_rate=0.0)
    demonstrator = BookingDemonstrator(generic_rate=0.0, partial_rate=0.0)
    conversations, expected = [], []
    for slot, example in enumerate(examples):
        rule.start(slot, example)
        model_user.start(slot, example)
        conversation = [{"role": "user", "content": example.prompt}]
        conversation.append({"role": "assistant", "content": demonstrator(example, conversation, random.Random(0))})
        conversations.append(conversation)
        expected.append(stated_values(rule.respond([slot], [conversation])[0].text))
    replies = model_user.respond(list(range(len(examples))), conversations)
    agree = [stated_values(reply.text) == values for reply, values in zip(replies, expected)]
    assert all(expected) and np.mean(agree) >= 0.5, list(zip([r.text for r in replies], expected))
    # Without the persona the same model cannot know the goal: its answers mostly state other values.
    blind = users.ModelUser(model_user.model, tokenizer, persona=False)
    replies = blind.respond(list(range(len(examples))), conversations)
    assert np.mean([stated_values(r.text) == values for r, values in zip(replies, expected)]) < np.mean(agree) - 0.3


def test_without_told_corrections_a_wrong_booking_is_refused_without_naming_the_slot():
    kwargs = {"change_of_mind": 1.0, "volunteer_rate": 0.0}
    told = gym.make(ENV_ID, split="test", user_simulator_kwargs=kwargs)
    vague = gym.make(ENV_ID, split="test", user_simulator_kwargs={**kwargs, "tell_corrections": False})
    for index in range(10):
        example = told.unwrapped.task.dataset[index]
        turns = good_agent_turns(example)
        replies = {}
        for name, env in (("told", told), ("vague", vague)):
            env.reset(options={"example_index": index})
            for text in turns[:-1]:
                say(env, text)
            _, _, terminated, _, info = say(env, turns[-1])  # the goal before the user changed it
            assert not terminated
            replies[name] = info["user_reply"]
        assert replies["told"].startswith("no , i wanted it")
        assert replies["vague"] == users.WRONG_BOOKING
    assert vague.unwrapped._episodes.user.config()["tell_corrections"] is False


def _demonstrated(demonstrator, indices, user_kwargs):
    from agents.sft.conversations import simulate_conversations
    from textenvs.data.tokenizer import load_builtin_tokenizer

    kwargs = {"tokenizer": load_builtin_tokenizer(), "split": "test", "user_simulator_kwargs": user_kwargs}
    env = gym.make(ENV_ID, **kwargs).unwrapped
    completed = []
    for index in indices:
        _, metrics = simulate_conversations(ENV_ID, kwargs, demonstrator, [index], seed=index)
        completed.append(metrics["goal_completion"] == 1.0)
    return env.task.dataset, completed


def test_the_v1_demonstrator_is_right_where_no_error_fires_and_wrong_where_one_must():
    from agents.sft.conversations import ROLE_BINDINGS, BookingDemonstratorV1, _swapped
    from textenvs.tasks.multiturn_dialogue import BENCHMARK_USER_V1

    none = dict(generic_rate=0.0, missed_volunteer_rate=0.0, stale_rate=0.0, binding_rate=0.0, omission_rate=0.0)
    indices = range(60)
    dataset, completed = _demonstrated(BookingDemonstratorV1(**none), indices, BENCHMARK_USER_V1)
    assert all(completed)  # a perfect demonstrator meets every goal, changes of mind included
    # Role binding fires only where the opening named the second slot of the pair (the order of hearing).
    dataset, completed = _demonstrated(BookingDemonstratorV1(**{**none, "binding_rate": 1.0}), indices,
                                       {**BENCHMARK_USER_V1, "change_of_mind": 0.0})
    for index, done in zip(indices, completed):
        meta = dataset[index].metadata
        first, second = ROLE_BINDINGS[meta["intent"]]
        pair = meta["goal"][first], meta["goal"][second]
        swaps = second in meta["opening"] and list(_swapped(*pair)) != list(pair)
        arrives = meta["intent"] == "book_taxi" and meta["goal"]["time"][2] == "arrive"
        assert done == (not swaps and not arrives), (index, meta)
    # A stale value fails exactly the conversations whose user changed its mind.
    dataset, completed = _demonstrated(BookingDemonstratorV1(**{**none, "stale_rate": 1.0}), indices,
                                       BENCHMARK_USER_V1)
    changes = [random.Random(dataset[index].id).random() < 0.5 for index in indices]
    assert completed == [not change for change in changes] and 10 < sum(changes) < 50


def test_outputs_no_one_would_accept_score_low_in_the_benchmark_setting():
    # The agent asks the right questions, then books with an unacceptable turn (repeated until the user gives up).
    # Bound: min(0.3, the v1 warm start's 0.584 in this setting). Known limit: a correct booking said twice earns
    # half the slot credit (each value once extra: precision 0.5), 0.37 here, and where the goal check reads the two
    # copies as one value it completes (2 of these 40 goals).
    from textenvs.tasks.multiturn_dialogue import BENCHMARK_USER_V1

    env = gym.make(ENV_ID, split="test", user_simulator_kwargs=dict(BENCHMARK_USER_V1))
    scores, completed = {}, Counter()
    for index in range(40):
        example = env.unwrapped.task.dataset[index]
        right = example.references[0]
        salad = right.split()
        random.Random(index).shuffle(salad)
        bad_turns = {"word salad": " ".join(salad), "bare values": " ".join(example.metadata["slots"]) + " .",
                     "prompt copy": example.prompt, "repeat": f"{right} {right}",
                     "constant": "i have booked it for you .",
                     "hedge": "i have booked a taxi " + " or ".join(f"from the {p} to the {p}" for p in _PLACES) + " ."}
        for name, text in bad_turns.items():
            env.reset(options={"example_index": index})
            for question in good_agent_turns(example)[:-1]:
                say(env, question)
            result = say(env, text)
            while not (result[2] or result[3]):
                result = say(env, text)
            scores.setdefault(name, []).append(result[1])
            completed[name] += result[4]["end_reason"] == "goal_met"
    means = {name: float(np.mean(values)) for name, values in scores.items()}
    assert completed["repeat"] <= 2 and sum(completed.values()) == completed["repeat"], completed
    assert all(means[name] <= 0.3 for name in means if name != "repeat"), means
    assert means["repeat"] < 0.584, means
