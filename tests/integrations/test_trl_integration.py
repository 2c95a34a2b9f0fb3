"""textenvs inside TRL 1.16 (``textenvs.integrations.trl``), tested with TRL's own trainer on CPU.

- Scorers as reward functions: a real ``trl.GRPOTrainer`` trains a tiny GPT-2 (built from a config over the
  built-in tokenizer) for a few steps on a built-in task with textenvs rewards (one of them a metadata scorer); every
  reward TRL logged equals the textenvs scorer's score of the completion TRL generated, rescored here from the
  task's own examples.
- ``MultiTurnDialogueEnvironment`` through ``environment_factory``: TRL's transformers generation path runs tool
  calls on CPU (no vLLM needed), so the trainer itself drives the adapter. A tiny GPT-2 over a byte-level tokenizer
  with TRL's Qwen2.5 chat template (one TRL can parse tool calls for) is first fitted to call the ``reply`` tool;
  the conversations TRL logged are replayed on a fresh ``MultiTurnDialogue-v0`` and give the same user answers and
  the same rewards TRL logged from ``get_reward()``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import textenvs
from textenvs import TextActionWrapper, load_env_dataset, load_env_scorer
from textenvs.integrations.trl import (DEFAULT_DIALOGUE_SYSTEM_PROMPT, MultiTurnDialogueEnvironment, completion_text, env_reward_function,
                                       reward_function, to_dataset)

trl = pytest.importorskip("trl", reason="TRL is not installed (pip install 'textenvs[trl]', which pins trl==1.16.0)")
if trl.__version__ != "1.16.0":
    pytest.skip(f"written against TRL 1.16.0's GRPOTrainer; found {trl.__version__}", allow_module_level=True)

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # environment_factory is experimental in TRL 1.16
V1_SUMMARIZATION = next(e for e in ("textenvs/SyntheticSummarization-v1", "textenvs/Summarization-v1")
                        if e in textenvs.ENV_IDS or e in gym.registry)
V1_DIALOGUE = next(e for e in ("textenvs/SyntheticDialogue-v1", "textenvs/Dialogue-v1")
                   if e in textenvs.ENV_IDS or e in gym.registry)


def _capture_callback(store: list[dict[str, Any]]) -> Any:
    """A TrainerCallback that copies what TRL logged for the step's generation batch (prompts, completions and each
    reward function's rewards; TRL keeps only the last batch in ``trainer._logs``)."""
    from transformers import TrainerCallback

    class Capture(TrainerCallback):
        trainer: Any = None

        def on_step_end(self, args, state, control, **kwargs):
            logs = self.trainer._logs
            store.append({"prompt": list(logs["prompt"]), "completion": list(logs["completion"]),
                          "rewards": {name: list(values) for name, values in logs["rewards"].items()}})

    return Capture()


def _tiny_gpt2(vocab_size: int, pad_id: int, eos_id: int, positions: int, seed: int = 0) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(vocab_size=vocab_size, n_positions=positions, n_embd=32, n_layer=2, n_head=2,
                                      pad_token_id=pad_id, eos_token_id=eos_id, bos_token_id=eos_id))


def _grpo_args(tmp_path, **overrides: Any) -> Any:
    args = dict(output_dir=str(tmp_path / "trl"), report_to="none", save_strategy="no", use_cpu=True, max_steps=2,
                per_device_train_batch_size=4, num_generations=4, logging_steps=1, learning_rate=1e-3, seed=0,
                dataloader_num_workers=0)
    args.update(overrides)
    return trl.GRPOConfig(**args)


def test_reward_function_matches_scorer_for_text_and_chat_completions():
    dataset = to_dataset(V1_DIALOGUE, num_examples=6)
    examples = load_env_dataset(V1_DIALOGUE, split="train")
    predictions = [examples[i].metadata["canonical"] if i % 2 else examples[i].references[0] for i in range(6)]
    reward = env_reward_function(V1_DIALOGUE)
    columns = {name: dataset[name] for name in ("references", "metadata", "task_prompt", "example_id")}
    text_rewards = reward(prompts=dataset["prompt"], completions=predictions, completion_ids=None, **columns)
    chat = [[{"role": "assistant", "content": [{"type": "text", "text": p}]}] for p in predictions]
    chat_rewards = reward(prompts=[[{"role": "user", "content": p}] for p in dataset["prompt"]], completions=chat,
                          **columns)
    expected = load_env_scorer(V1_DIALOGUE).score(predictions, [e.references for e in examples.select(range(6))],
                                                  [e.prompt for e in examples.select(range(6))],
                                                  [e.metadata for e in examples.select(range(6))])
    assert text_rewards == chat_rewards == expected["dialogue_slots"].tolist()
    assert text_rewards[1] == 1.0 and min(text_rewards) < 1.0  # the canonical answer earns exactly 1

    # A metadata scorer without the metadata column says which column is missing and how to get it.
    with pytest.raises(KeyError, match="no 'metadata' column.*to_dataset"):
        reward(prompts=dataset["prompt"], completions=predictions, references=dataset["references"])
    with pytest.raises(ValueError, match="no assistant message"):
        reward(prompts=dataset["prompt"][:1], completions=[[{"role": "user", "content": "x"}]], **{
            k: v[:1] for k, v in columns.items()})
    with pytest.raises(ValueError, match="Unknown scorer 'bleuu'.*bleu"):
        reward_function("bleuu")
    assert reward_function("rouge", key="rouge2").key == "rouge2"
    with pytest.raises(ValueError, match="key='nope'"):
        reward_function("rouge", key="nope")


def test_to_dataset_columns_and_prompt_formats():
    text = to_dataset("textenvs/Translation-v0", split="validation", num_examples=3)
    examples = load_env_dataset("textenvs/Translation-v0", split="validation")
    assert text.column_names == ["prompt", "references", "metadata", "task_prompt", "example_id", "example_index"]
    assert text["prompt"] == [examples[i].prompt for i in range(3)]
    assert text["references"] == [list(examples[i].references) for i in range(3)]
    chat = to_dataset("textenvs/Summarization-v0", conversational=True, system_prompt="Summarize.", num_examples=2)
    first = load_env_dataset("textenvs/Summarization-v0", split="train")[0]
    assert chat[0]["prompt"] == [{"role": "system", "content": "Summarize."}, {"role": "user", "content": first.prompt}]
    assert json.loads(chat[0]["metadata"]) == first.metadata
    environment = to_dataset("textenvs/MultiTurnDialogue-v0", for_environment=True, num_examples=2)
    assert environment[0]["prompt"][-1] == {"role": "user", "content": ""}
    with pytest.raises(ValueError, match="conversational=True"):
        to_dataset("textenvs/Translation-v0", system_prompt="x")


def test_grpo_trainer_logs_the_rewards_textenvs_gives(tmp_path):
    """A real GRPOTrainer run (2 steps, 4 completions each) with two textenvs rewards, one needing metadata."""
    from textenvs.data.tokenizer import load_builtin_tokenizer

    env_id = "textenvs/Summarization-v0"
    tokenizer = load_builtin_tokenizer()
    model = _tiny_gpt2(len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id, positions=128)
    dataset = to_dataset(env_id, num_examples=8)
    rewards = [reward_function("key_fact_recall"), reward_function("rouge")]
    captured: list[dict[str, Any]] = []
    callback = _capture_callback(captured)
    trainer = trl.GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=rewards, train_dataset=dataset,
                              args=_grpo_args(tmp_path, max_completion_length=12), callbacks=[callback])
    callback.trainer = trainer
    trainer.train()

    assert len(captured) == 2
    examples = load_env_dataset(env_id, split="train")
    by_prompt = {examples[i].prompt: examples[i] for i in range(8)}
    scorers = {"textenvs_key_fact_recall": (load_env_scorer(env_id, scorer="key_fact_recall"), "key_fact_recall"),
               "textenvs_rouge": (load_env_scorer(env_id, scorer="rouge"), "rougeL")}
    logged_means = [entry for entry in trainer.state.log_history if "rewards/textenvs_rouge/mean" in entry]
    assert len(logged_means) == 2
    for step, batch in enumerate(captured):
        assert len(batch["completion"]) == 4
        texts = [completion_text(c) for c in batch["completion"]]
        chosen = [by_prompt[p] for p in batch["prompt"]]
        for name, (scorer, key) in scorers.items():
            ours = scorer.score(texts, [e.references for e in chosen], [e.prompt for e in chosen],
                                [e.metadata for e in chosen])[key]
            np.testing.assert_allclose(batch["rewards"][name], ours, rtol=0, atol=1e-6)  # TRL stores float32
            np.testing.assert_allclose(logged_means[step][f"rewards/{name}/mean"], ours.mean(), atol=1e-6)


# ---------------------------------------------------------------- multi-turn through environment_factory

def test_environment_contract_against_the_env():
    """The adapter's surface is what TRL 1.16 reads: a no-argument constructor, reset(**row) -> str, one public
    tool method (schema from its docstring) besides reset/get_reward, get_reward() -> float."""
    import inspect

    from transformers.utils import get_json_schema

    environment = MultiTurnDialogueEnvironment()  # no arguments
    public = [name for name, _ in inspect.getmembers(MultiTurnDialogueEnvironment, predicate=inspect.isfunction)
              if not name.startswith("_")]
    assert public == ["get_reward", "reply", "reset"]
    schema = get_json_schema(environment.reply)
    assert schema["function"]["name"] == "reply"
    assert schema["function"]["parameters"]["required"] == ["message"]
    with pytest.raises(RuntimeError, match="before reset"):
        environment.reply("hello")

    row = to_dataset("textenvs/MultiTurnDialogue-v0", for_environment=True, num_examples=1)[0]
    opening = environment.reset(**row)
    goal = load_env_dataset("textenvs/MultiTurnDialogue-v0", split="train")[0]
    assert isinstance(opening, str) and opening == goal.prompt
    answer = environment.reply("what time would you like to arrive ?")
    assert isinstance(answer, str) and answer and environment.end_reason is None
    partial = environment.get_reward()
    assert 0.0 <= partial < 1.0
    final = environment.reply(goal.references[0])
    assert environment.end_reason == "goal_met" and "over" in final
    assert environment.get_reward() == 1.0
    with pytest.raises(RuntimeError, match="conversation is over"):
        environment.reply("anything else ?")
    environment.reset(example_index=0)
    with pytest.raises(TypeError, match="must be a string"):
        environment.reply(3)

    # Isolation: two instances hold two conversations.
    a, b = MultiTurnDialogueEnvironment(), MultiTurnDialogueEnvironment(max_turns=2)
    a.reset(example_index=1), b.reset(example_index=2)
    a.reply("hello ?")
    assert len(a.conversation) == 3 and len(b.conversation) == 1


def _tool_tokenizer() -> Any:
    """A byte-level BPE tokenizer carrying TRL's Qwen2.5 chat template (TRL parses tool calls for it)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from trl.chat_template_utils import qwen2_5_chat_template

    goals = load_env_dataset("textenvs/MultiTurnDialogue-v0", split="train")
    corpus = [qwen2_5_chat_template, _tool_call("x"), *(goals[i].references[0] for i in range(50)),
              *(goals[i].prompt for i in range(50))]
    # The rendered tool schema and system prompt too, so BPE merges keep the prompts short (faster on CPU).
    draft = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()))
    draft.chat_template = qwen2_5_chat_template
    corpus.append(draft.apply_chat_template(
        [{"role": "system", "content": DEFAULT_DIALOGUE_SYSTEM_PROMPT}, {"role": "user", "content": ""}],
        tools=[MultiTurnDialogueEnvironment.reply], tokenize=False, add_generation_prompt=True))
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=1000, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = qwen2_5_chat_template
    return tokenizer


def _tool_call(message: str) -> str:
    return f'<tool_call>\n{json.dumps({"name": "reply", "arguments": {"message": message}})}\n</tool_call><|im_end|>'


def _fit_tool_caller(model: Any, tokenizer: Any, prompts: list[list[dict]], message: str) -> None:
    """Fit the tiny model to answer every prompt (first turn and after a tool answer) with a ``reply`` call."""
    tools = [MultiTurnDialogueEnvironment().reply]
    target = tokenizer.encode(_tool_call(message), add_special_tokens=False)
    sequences = []
    for prompt in prompts:
        prefix = tokenizer.apply_chat_template(prompt, tools=tools, add_generation_prompt=True, tokenize=True,
                                               return_dict=False)
        sequences.append((list(prefix), target))
    width = max(len(prefix) + len(completion) for prefix, completion in sequences)
    ids = torch.full((len(sequences), width), tokenizer.pad_token_id)
    labels = torch.full((len(sequences), width), -100)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, (prefix, completion) in enumerate(sequences):  # right-padded: positions match TRL's left-padded run
        ids[row, :len(prefix) + len(completion)] = torch.tensor(prefix + completion)
        labels[row, len(prefix):len(prefix) + len(completion)] = torch.tensor(completion)
        mask[row, :len(prefix) + len(completion)] = 1
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(100):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05


@pytest.mark.slow
def test_grpo_trainer_drives_the_multiturn_environment(tmp_path):
    """TRL's GRPOTrainer with environment_factory=MultiTurnDialogueEnvironment on CPU: the model calls the reply
    tool, TRL feeds the user's answers back, and the rewards it logs from get_reward() are the env's."""
    tokenizer = _tool_tokenizer()
    dataset = to_dataset("textenvs/MultiTurnDialogue-v0", for_environment=True, num_examples=2)
    goals = load_env_dataset("textenvs/MultiTurnDialogue-v0", split="train")
    message = goals[0].references[0]  # meets goal 0; a partial booking for goal 1
    model = _tiny_gpt2(len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id, positions=1024)
    first_turns = [row["prompt"][:-1] + [{"role": "user", "content": goals[row["example_index"]].prompt}]
                   for row in dataset]
    after_answer = [turns + [{"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "reply", "arguments": {"message": message}}}]},
        {"role": "tool", "name": "reply", "content": "i do not mind ."}] for turns in first_turns]
    _fit_tool_caller(model, tokenizer, first_turns + after_answer, message)

    captured: list[dict[str, Any]] = []
    callback = _capture_callback(captured)
    trainer = trl.GRPOTrainer(
        model=model, processing_class=tokenizer, train_dataset=dataset, environment_factory=MultiTurnDialogueEnvironment,
        args=_grpo_args(tmp_path, max_completion_length=256, max_tool_calling_iterations=2, temperature=0.5,
                        per_device_train_batch_size=4, num_generations=2),
        callbacks=[callback])
    callback.trainer = trainer
    trainer.train()

    assert trainer.reward_func_names == ["MultiTurnDialogueEnvironment"]
    replies = 0
    for batch in captured:
        for prompt, completion, logged in zip(batch["prompt"], batch["completion"],
                                              batch["rewards"]["MultiTurnDialogueEnvironment"]):
            opening = prompt[-1]["content"]
            index = next(i for i in range(2) if goals[i].prompt == opening)
            env = TextActionWrapper(gym.make("textenvs/MultiTurnDialogue-v0"))
            env.reset(options={"example_index": index})
            total, ended, last_turn = 0.0, False, None
            for position, entry in enumerate(completion):
                for call in entry.get("tool_calls") or []:
                    assert not ended
                    last_turn = call["function"]["arguments"]["message"]
                    _, reward, ended, _, info = env.step(last_turn)
                    total += reward
                    replies += 1
                    answer = completion[position + 1]
                    assert answer["role"] == "tool"
                    if not ended:
                        assert answer["content"] == info["user_reply"]
            if not ended and last_turn is not None:  # unfinished: scored as at a limit, on the last turn
                goal = goals[index]
                total += load_env_scorer("textenvs/MultiTurnDialogue-v0").score(
                    [last_turn], [goal.references], [goal.prompt], [goal.metadata])["goal_score"][0]
            assert logged == pytest.approx(total, abs=1e-6)
    assert replies >= 4  # the tool path ran: the fitted model called reply and TRL fed the answers back
    assert any(r == 1.0 for batch in captured for r in batch["rewards"]["MultiTurnDialogueEnvironment"])
