"""Train a small user model for ``textenvs/MultiTurnDialogue-v1``: a tiny GPT-2 fit to the turns of the rule-based
user (:class:`textenvs.users.BookingUserV1`), told its goal by the persona prompt (:func:`textenvs.users.
persona_prompt`), then measured against the rule user on held-out goals.

Data: conversations between the demonstration agent of the warm starts (:class:`agents.sft.conversations.
BookingDemonstrator`: one built-in question per unknown slot, sometimes a generic turn or a partial booking, which the
user refuses or corrects) and the rule user, on train goals. Every user turn is one supervised row: the prompt is
exactly what :class:`textenvs.users.ModelUser` shows the model (persona, then the conversation from the user's side,
in the plain layout of the built-in tokenizer), the target is the rule user's reply and EOS.

Agreement (printed and written to ``agreement.json``): on conversations over held-out goals (``test`` and
``test_compositional``), the rule user's turns are replayed and at each one the model replies to the same
conversation (greedy). A turn agrees when the model's reply states the same slot values as the rule user's
(:func:`textenvs.scorers.booking_goal.stated_values`) and,
where the rule reply states no value (a refusal, ``"i do not mind ."``), when it is the same text.

    python scripts/train_user_model.py                       # ~6 CPU-minutes; writes runs/user-model-v1/
    python scripts/train_user_model.py --out agents/checkpoints/multiturn_user-v1 --steps 3000
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.sft.conversations import BookingDemonstrator
from agents.sft.trainer import SFTConfig, SupervisedPairs, train_sft
from textenvs.core import load_tokenizer
from textenvs.data.booking_goals import load_booking_goals_v1
from textenvs.data.dataset import Example
from textenvs.scorers.booking_goal import stated_values
from textenvs.users import BookingUserV1, ModelUser, persona_prompt, user_prompt

ENV_ID = "textenvs/MultiTurnDialogue-v1"
PROMPT_TOKENS = 96
HISTORY_TURNS = 3
"""Messages of the conversation the user model sees after its persona: the agent's turn, and the user's and agent's
turns before it (enough to notice a repeated turn); short prompts make training several times cheaper."""
REPLY_TOKENS = 32
MAX_TURNS = 8


def rule_conversations(examples: list[Example], seed: int) -> list[tuple[Example, list[dict], str]]:
    """Play the demonstrator against the rule user on ``examples``; one ``(example, conversation, reply)`` per user
    turn, the conversation ending with the agent's turn (the env's side: agent = ``assistant``)."""
    demonstrator = BookingDemonstrator(generic_rate=0.15, partial_rate=0.5)
    rng = random.Random(seed)
    user = BookingUserV1()
    rows = []
    for example in examples:
        user.start(0, example)
        conversation = [{"role": "user", "content": example.prompt}]
        for _ in range(MAX_TURNS):
            conversation.append({"role": "assistant", "content": demonstrator(example, conversation, rng)})
            reply = user.respond([0], [conversation])[0]
            rows.append((example, [dict(m) for m in conversation], reply.text))
            if reply.gives_up or reply.text == "thank you , goodbye .":
                break
            conversation.append({"role": "user", "content": reply.text})
    return rows


def encode_rows(rows, tokenizer) -> SupervisedPairs:
    """The rows in :class:`ModelUser`'s prompt layout: left-padded prompt, reply + EOS."""
    count = len(rows)
    prompt_ids = np.full((count, PROMPT_TOKENS), tokenizer.pad_token_id, dtype=np.int64)
    prompt_mask = np.zeros((count, PROMPT_TOKENS), dtype=np.int8)
    target_ids = np.full((count, REPLY_TOKENS), tokenizer.pad_token_id, dtype=np.int64)
    target_mask = np.zeros((count, REPLY_TOKENS), dtype=np.int8)
    for row, (example, conversation, reply) in enumerate(rows):
        # Keep the persona whole and the newest turns when a prompt is too long: both are what the reply needs.
        ids = tokenizer.encode(user_prompt(tokenizer, conversation, persona_prompt(example.metadata), HISTORY_TURNS),
                               add_special_tokens=False)
        if len(ids) > PROMPT_TOKENS:
            persona = tokenizer.encode(persona_prompt(example.metadata), add_special_tokens=False)
            ids = persona + ids[len(ids) - (PROMPT_TOKENS - len(persona)):]
        prompt_ids[row, PROMPT_TOKENS - len(ids):] = ids
        prompt_mask[row, PROMPT_TOKENS - len(ids):] = 1
        target = (tokenizer.encode(reply, add_special_tokens=False) + [tokenizer.eos_token_id])[:REPLY_TOKENS]
        target_ids[row, :len(target)] = target
        target_mask[row, :len(target)] = 1
    return SupervisedPairs(prompt_ids, prompt_mask, target_ids, target_mask)


def agreement(model_user: ModelUser, rows, batch_size: int = 64) -> dict[str, Any]:
    """How often the model user's reply agrees with the rule user's on ``rows`` (see the module docstring)."""
    answers = answer_agree = other = other_agree = 0
    examples = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        for slot, (example, _, _) in enumerate(chunk):
            model_user.start(slot, example)
        replies = model_user.respond(list(range(len(chunk))), [conversation for _, conversation, _ in chunk])
        for (example, conversation, rule), reply in zip(chunk, replies):
            expected = stated_values(rule)
            if expected:
                answers += 1
                agree = stated_values(reply.text) == expected
                answer_agree += agree
            else:
                other += 1
                agree = reply.text == rule
                other_agree += agree
            if len(examples) < 8:
                examples.append({"agent": conversation[-1]["content"], "rule_user": rule, "model_user": reply.text,
                                 "agree": bool(agree)})
    return {"answer_turns": answers, "answer_agreement": answer_agree / max(answers, 1),
            "other_turns": other, "other_agreement": other_agree / max(other, 1),
            "agreement": (answer_agree + other_agree) / max(answers + other, 1), "examples": examples}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/user-model-v1", help="checkpoint directory")
    parser.add_argument("--train-goals", type=int, default=2500, help="train goals to simulate conversations on")
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--eval-goals", type=int, default=200, help="held-out goals per test split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = load_tokenizer()
    train = list(load_booking_goals_v1("train"))[:args.train_goals]
    rows = rule_conversations(train, args.seed)
    pairs = encode_rows(rows, tokenizer)
    torch.manual_seed(args.seed)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=512,
                                       n_embd=args.width, n_layer=args.layers, n_head=4, resid_pdrop=0.0,
                                       embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=tokenizer.bos_token_id,
                                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    started = time.perf_counter()
    config = SFTConfig(learning_rate=args.learning_rate, batch_size=args.batch_size, max_steps=args.steps,
                       warmup_steps=min(200, args.steps // 10), eval_split=None, seed=args.seed, device=args.device,
                       log_every=100)
    model = train_sft(model, tokenizer, ENV_ID, config=config, train_pairs=pairs,
                      callback=lambda record: print(json.dumps(record), flush=True) if "train/loss" in record else None)
    seconds = time.perf_counter() - started
    model = model.eval().float().cpu()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    model_user = ModelUser(model, tokenizer, max_new_tokens=REPLY_TOKENS, persona=True, history_turns=HISTORY_TURNS)
    report = {"train_rows": len(pairs), "train_goals": len(train), "steps": args.steps, "train_seconds": seconds,
              "parameters": model.num_parameters(), "args": vars(args)}
    for split in ("test", "test_compositional"):
        goals = list(load_booking_goals_v1(split))[:args.eval_goals]
        report[split] = agreement(model_user, rule_conversations(goals, args.seed + 1))
        print(split, {key: value for key, value in report[split].items() if key != "examples"}, flush=True)
    (out / "agreement.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
