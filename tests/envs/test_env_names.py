"""Env ids: the real-data families (``Translation``, ``Summarization``, ``Dialogue``, ``MultiTurnDialogue``) and the
``Synthetic*`` benchmark families are different names, so no real-data user is told to "upgrade" to a benchmark
task; the old benchmark ids keep working as aliases that make the same env."""

from __future__ import annotations

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest

import textenvs
from textenvs import ENV_ALIASES, ENV_IDS, env_class, resolve_env_id

REAL_DATA_ROWS = {
    "textenvs/Translation-v0": {"source": "ein hund läuft .", "target": "a dog runs ."},
    "textenvs/Summarization-v0": {"document": "anna met tom in rome . it rained .", "summary": "anna met tom ."},
    "textenvs/Dialogue-v0": {"context": ["hello , i need a taxi ."], "response": "where are you going ?"},
}


@pytest.mark.parametrize("env_id", sorted(REAL_DATA_ROWS))
def test_real_data_families_make_and_step_without_any_warning(env_id, tmp_path):
    """``gymnasium.make`` / ``make_vec`` of a v0 family on a user's file: no "out of date" warning, none at all."""
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps(REAL_DATA_ROWS[env_id]) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = gym.make(env_id, dataset=str(data))
        env.reset(seed=0)
        env.step(env.unwrapped.tokenizer.eos_token_id)
        envs = gym.make_vec(env_id, num_envs=2, dataset=str(data))
        envs.reset(seed=0)
    assert [str(w.message) for w in caught] == []
    env.close(), envs.close()


def test_no_family_shares_a_name_with_another_kind_of_task():
    """Every version of a family name is the same kind of task: the single-turn real-data families have only v0 and
    every benchmark task (a reward ceiling known per example) is in a ``Synthetic*`` family, so Gymnasium's version
    check never points a real-data user at a benchmark."""
    for env_id in ENV_IDS:
        spec = gym.spec(env_id)
        assert spec.id == env_id
        if spec.name in ("Translation", "Summarization", "Dialogue"):
            assert spec.version == 0, env_id
        if spec.name.startswith("Synthetic"):
            assert env_class(env_id).task_spec.reward_ceiling == 1.0, env_id


@pytest.mark.parametrize("alias", sorted(ENV_ALIASES))
def test_old_ids_are_aliases_that_give_the_same_results(alias):
    target = ENV_ALIASES[alias]
    assert resolve_env_id(alias) == target and env_class(alias) is env_class(target)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = gym.make(alias, split="test")
    assert not [w for w in caught if "out of date" in str(w.message)]
    new = gym.make(target, split="test")
    assert old.spec.id == target  # the alias makes its target's spec, which names the id to use from now on
    old_task, new_task = old.unwrapped.task, new.unwrapped.task
    assert old_task.dataset.content_hash == new_task.dataset.content_hash
    assert old_task.scorer.name == new_task.scorer.name
    assert textenvs.env_reward_ceiling(alias) == textenvs.env_reward_ceiling(target) == 1.0
    # The same actions give the same episode and reward under both names.
    rewards = []
    for env in (old, new):
        _, reset_info = env.reset(seed=3)
        canonical = env.unwrapped.task.dataset[reset_info["example_index"]].metadata["canonical"]
        ids = env.unwrapped.tokenizer(canonical, add_special_tokens=True)["input_ids"]  # ends with EOS
        for token in ids:
            _, reward, terminated, _, info = env.step(token)
            if terminated:
                break
        rewards.append((info["prediction"], reward))
    assert rewards[0] == rewards[1] and rewards[0][1] == 1.0
    vector = gym.make_vec(alias, num_envs=2, split="test")
    assert type(vector).__name__ == type(gym.make_vec(target, num_envs=2, split="test")).__name__


def test_unknown_ids_name_the_closest_registered_one():
    with pytest.raises(gym.error.NameNotFound, match="Did you mean 'textenvs/SyntheticDialogue-v1'"):
        resolve_env_id("textenvs/SyntheticDialog-v1")
    assert np.all([resolve_env_id(env_id) == env_id for env_id in ENV_IDS])


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_every_class_an_id_names_is_found_by_searching_for_its_name(env_id):
    """Registrations and classes are written out: the registry's entry points appear as literal strings in
    ``registration.py``, and each names a class defined by a ``class <Name>(`` statement in its module, whose
    ``task_spec`` the vector env shares with the single env."""
    import importlib
    import inspect

    import textenvs.registration

    spec = gym.spec(env_id)
    registration_source = inspect.getsource(textenvs.registration)
    classes = []
    for entry_point in (spec.entry_point, spec.vector_entry_point):
        assert f'"{entry_point}"' in registration_source
        module_name, class_name = entry_point.split(":")
        module = importlib.import_module(module_name)
        assert f"\nclass {class_name}(" in inspect.getsource(module)
        classes.append(getattr(module, class_name))
    single, vector = classes
    assert vector.__name__ == single.__name__.removesuffix("Env") + "VectorEnv"
    assert vector.task_spec is single.task_spec
