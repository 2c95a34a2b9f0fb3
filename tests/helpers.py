"""Small in-test fixtures: a word-level tokenizer, a toy dataset and tiny models, so env and agent tests do not depend
on built-in data or shipped checkpoints."""

from __future__ import annotations

from contextlib import contextmanager

from transformers import PreTrainedTokenizerFast

from textenvs.data.dataset import Example, TextDataset
from textenvs.scorers import Scorer

TOY_PAIRS = [
    ("ein hund sieht eine katze", "a dog sees a cat"),
    ("die katze schläft", "the cat sleeps"),
    ("ein mann liest ein buch", "a man reads a book"),
    ("zwei kinder spielen im park", "two children play in the park"),
    ("eine frau trinkt kaffee", "a woman drinks coffee"),
]


def word_tokenizer(texts=None, eos: bool = True, pad: bool = True, sep: bool = True) -> PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    texts = texts or [t for pair in TOY_PAIRS for t in pair]
    specials = ["<pad>", "</s>", "<unk>", "<sep>"]
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=specials))
    kwargs = {"unk_token": "<unk>"}
    if pad:
        kwargs["pad_token"] = "<pad>"
    if eos:
        kwargs["eos_token"] = "</s>"
    if sep:
        kwargs["sep_token"] = "<sep>"
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **kwargs)


def toy_dataset(split: str = "train") -> TextDataset:
    return TextDataset([Example(f"toy-{i}", src, (tgt,)) for i, (src, tgt) in enumerate(TOY_PAIRS)], "toy", split)


def toy_kwargs(**overrides):
    kwargs = dict(tokenizer=word_tokenizer(), dataset=toy_dataset(), max_prompt_length=10, max_new_tokens=6)
    kwargs.update(overrides)
    return kwargs


TINY_MODELS = {"causal": {"n_layer": 1, "n_embd": 32, "n_head": 2},
               "seq2seq": {"num_layers": 1, "num_decoder_layers": 1, "d_model": 32, "d_ff": 64, "d_kv": 16,
                           "num_heads": 2}}


def tiny_model(kind: str, tokenizer, seed: int = 0):
    """A randomly initialized one-layer causal (GPT-2) or seq2seq (T5) model over ``tokenizer``."""
    import torch

    from agents.models import build_causal_lm, build_seq2seq_lm

    torch.manual_seed(seed)
    build = build_causal_lm if kind == "causal" else build_seq2seq_lm
    return build(tokenizer, "tiny", **TINY_MODELS[kind])


def chatty_model(tokenizer, seed: int = 0):
    """A random one-layer GPT-2 whose output head favours EOS (the plain layout's end-of-turn token), so its turns
    end and the simulated user replies: conversations with several user turns."""
    import torch
    from torch import nn

    model = tiny_model("causal", tokenizer, seed)
    head = nn.Linear(model.config.n_embd, model.config.vocab_size)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        head.bias[tokenizer.eos_token_id] = 6.0
    model.config.tie_word_embeddings = False
    model.lm_head = head
    return model.eval()


def saved_model_and_data(directory) -> tuple:
    """A tiny causal model with its tokenizer saved in ``directory/model`` and the toy pairs as
    ``directory/pairs.jsonl``: what a CLI or a spawned trainer process loads. Returns both paths."""
    import json

    tokenizer = word_tokenizer()
    model_dir = directory / "model"
    tiny_model("causal", tokenizer).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data = directory / "pairs.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "source": s, "target": t}) + "\n"
                            for i, (s, t) in enumerate(TOY_PAIRS)))
    return model_dir, data


def rollout_env_kwargs(tokenizer, **overrides):
    """Env kwargs of the PPO rollout tests: the toy data, chrF, short prompts and episodes, and the vector env without
    autoreset that rollouts need."""
    return {"tokenizer": tokenizer, "dataset": toy_dataset(), "scorer": "chrf", "max_prompt_length": 10,
            "max_new_tokens": 6, "autoreset_mode": "Disabled", **overrides}


def teacher_forced_logprobs(model, rollout, vocab_size: int):
    """Logprobs of a rollout's tokens from one full teacher-forced forward (0 after each episode's end)."""
    import torch

    from textenvs.decoding import token_logits

    with torch.no_grad():
        logits = token_logits(model, rollout.prompt_ids, rollout.prompt_mask, rollout.generated_ids,
                              rollout.generated_mask)
    return torch.log_softmax(logits[..., :vocab_size], -1).gather(
        -1, rollout.generated_ids.unsqueeze(-1)).squeeze(-1) * rollout.generated_mask


class CountingChrF(Scorer):
    """chrF that records how many predictions it scored (to show what the env scores, not what it could)."""

    name = primary = "chrf"

    def __init__(self) -> None:
        from textenvs.scorers import get

        self.inner, self.scored = get("chrf"), []

    def compute(self, predictions, references, prompts, metadata):
        self.scored.extend(predictions)
        return self.inner.compute(predictions, references, prompts, metadata)


CHAT_TEMPLATES = {
    # Qwen / ChatML style: every message is <|im_start|>role\ncontent<|im_end|>\n.
    "chatml": ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
               "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"),
    # Llama-3 style: a BOS, then <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> per message.
    "llama3": ("<|begin_of_text|>{% for message in messages %}<|start_header_id|>{{ message['role'] }}"
               "<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
               "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"),
}
CHAT_SPECIAL_TOKENS = {"chatml": ["<|im_start|>", "<|im_end|>"],
                       "llama3": ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]}


def chat_tokenizer(style: str = "chatml"):
    """The built-in tokenizer with a chat template (and its special tokens) set, as a chat model's tokenizer has."""
    from textenvs.data.tokenizer import load_builtin_tokenizer

    tokenizer = load_builtin_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": CHAT_SPECIAL_TOKENS[style]})
    tokenizer.chat_template = CHAT_TEMPLATES[style]
    return tokenizer


@contextmanager
def leaderboard_client(db_url: str, user: str, max_body_bytes: int | None = None, **client_kwargs):
    """An in-process client of a leaderboard app over ``db_url`` that sends a new token of ``user``; yields
    ``(client, token)`` (the app is ``client.app``)."""
    from fastapi.testclient import TestClient

    from leaderboard.auth import create_token
    from leaderboard.server import create_app

    app_kwargs = {} if max_body_bytes is None else {"max_body_bytes": max_body_bytes}
    app = create_app(db_url, **app_kwargs)
    token = create_token(app.state.leaderboard.store, user)
    with TestClient(app, **client_kwargs) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, token


def assert_infos_equal(native: dict, reference: dict) -> None:
    """Two vector envs' info dicts hold the same keys and values (nested dicts too)."""
    import numpy as np

    assert sorted(native) == sorted(reference)
    for key in native:
        if isinstance(native[key], dict):
            assert_infos_equal(native[key], reference[key])
        else:
            assert np.array_equal(np.asarray(native[key], dtype=object), np.asarray(reference[key], dtype=object)), key


def assert_vector_envs_agree(native, reference, choose_actions, seed: int, steps: int,
                             restart_ended: bool = False) -> int:
    """Reset ``native`` and ``reference`` (a ``SyncVectorEnv`` of the same env) with ``seed`` and step them in lockstep
    with the actions ``choose_actions()`` returns, asserting identical observations, rewards (to 1e-12),
    terminations, truncations and infos at every step. With ``restart_ended`` (disabled autoreset) the sub-envs that
    ended are restarted through ``reset(options={"reset_mask": ...})``. Returns how many episodes ended."""
    import numpy as np

    results = [native.reset(seed=seed), reference.reset(seed=seed)]
    ended_episodes = 0
    for _ in range(steps):
        (obs_native, info_native), (obs_reference, info_reference) = results
        for key in obs_native:
            np.testing.assert_array_equal(obs_native[key], obs_reference[key])
        assert_infos_equal(info_native, info_reference)
        actions = choose_actions()
        native_step, reference_step = native.step(actions), reference.step(actions)
        np.testing.assert_allclose(native_step[1], reference_step[1], rtol=0, atol=1e-12)
        for native_value, reference_value in zip(native_step[2:4], reference_step[2:4]):
            np.testing.assert_array_equal(native_value, reference_value)
        ended = native_step[2] | native_step[3]
        ended_episodes += int(ended.sum())
        if restart_ended and ended.any():  # SyncVectorEnv cannot step an ended sub-env, so restart exactly those
            results = [env.reset(options={"reset_mask": ended.copy()}) for env in (native, reference)]
        else:
            results = [native_step[::4], reference_step[::4]]
    return ended_episodes


def say(env, text: str):
    """The agent of a multi-turn env writes ``text`` as one turn, token by token; returns the last step's results."""
    base = env.unwrapped
    result = None
    for token in base.encode_agent_turn(text) + [base.end_of_turn_token_id]:
        result = env.step(token)
        if result[2] or result[3]:
            break
    return result


def good_agent_turns(example) -> list[str]:
    """A booking agent that asks the built-in question for each slot the opening did not name, then confirms the
    booking with the example's first (canonical) reference."""
    from textenvs.data.generators.dialogue import _QUESTIONS

    intent, goal = example.metadata["intent"], example.metadata["goal"]
    return [_QUESTIONS[intent, slot][0] for slot in goal
            if slot not in example.metadata["opening"] and (intent, slot) in _QUESTIONS] + [example.references[0]]


def random_turn_actions(env, seed: int = 0):
    """``choose_actions`` for :func:`assert_vector_envs_agree` on a multi-turn vector env: random tokens, each the
    end-of-turn token with probability 0.3."""
    import numpy as np

    rng = np.random.default_rng(seed)
    end_of_turn = env.unwrapped.end_of_turn_token_id
    return lambda: np.where(rng.random(env.num_envs) < 0.3, end_of_turn, rng.integers(5, 400, size=env.num_envs))


def tiny_encoder_decoder(vocab_size: int, decoder: str = "gpt2", decoder_width: int = 48, seed: int = 0,
                         start_token_id: int = 0, pad_token_id: int = 0):
    """A randomly initialized transformers ``EncoderDecoderModel``: a one-layer BERT encoder of width 32 and a
    one-layer decoder with cross-attention, ``"gpt2"`` (``GPT2LMHeadModel``) or ``"bert"`` (``BertLMHeadModel``,
    whose LM head transforms the state before its output embeddings). A ``decoder_width`` other than 32 makes the
    model project the encoder's output (``enc_to_dec_proj``). Dropout off; built locally, nothing downloaded."""
    import torch
    from transformers import BertConfig, BertLMHeadModel, BertModel, EncoderDecoderModel, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    bert = dict(vocab_size=vocab_size, num_hidden_layers=1, num_attention_heads=2, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0, pad_token_id=pad_token_id)
    encoder = BertModel(BertConfig(hidden_size=32, intermediate_size=64, **bert), add_pooling_layer=False)
    if decoder == "gpt2":
        head = GPT2LMHeadModel(GPT2Config(vocab_size=vocab_size, n_embd=decoder_width, n_layer=1, n_head=2,
                                          add_cross_attention=True, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                          bos_token_id=start_token_id, eos_token_id=pad_token_id))
    else:
        head = BertLMHeadModel(BertConfig(hidden_size=decoder_width, intermediate_size=2 * decoder_width,
                                          is_decoder=True, add_cross_attention=True, **bert))
    model = EncoderDecoderModel(encoder=encoder, decoder=head)
    model.config.decoder_start_token_id, model.config.pad_token_id = start_token_id, pad_token_id
    return model.eval()


def seq2seq_decoding_errors(model, prompt_ids, prompt_mask, steps: int = 3) -> tuple[list[float], float]:
    """How far ``textenvs.decoding`` is from a seq2seq model's own forward: the largest absolute difference of
    :class:`CachedDecoder`'s logits after each of ``steps`` greedy steps, and of the teacher-forced
    :func:`token_logits` of the greedy tokens, from ``model(...).logits`` on the same inputs."""
    import torch

    from textenvs.decoding import CachedDecoder, token_logits

    start = torch.full((len(prompt_ids), 1), model.config.decoder_start_token_id)
    cached, tokens = [], []
    with torch.inference_mode():
        decoder = CachedDecoder(model, prompt_ids, prompt_mask)
        for _ in range(steps):
            expected = model(input_ids=prompt_ids, attention_mask=prompt_mask,
                             decoder_input_ids=torch.cat([start, *tokens], dim=1)).logits[:, -1]
            cached.append(float((decoder.logits - expected).abs().max()))
            tokens.append(decoder.logits.argmax(-1)[:, None])
            decoder.advance(tokens[-1][:, 0])
        generated = torch.cat(tokens, dim=1)
        forced = token_logits(model, prompt_ids, prompt_mask, generated, torch.ones_like(generated))
        expected = model(input_ids=prompt_ids, attention_mask=prompt_mask,
                         decoder_input_ids=torch.cat([start, generated[:, :-1]], dim=1)).logits
    return cached, float((forced - expected).abs().max())


BENCH_RUN_PROVENANCE = {
    "wall_time_s": {"learn": 1.0, "evaluate": 1.0, "total": 2.0},
    "hardware": {"hostname": "h", "platform": "p", "cpu": "c", "cpu_cores": 2, "memory_gb": 1.0, "gpus": [],
                 "torch_threads": 1},
    "versions": {"textenvs": "0"}, "backend": "local", "date": "2026-12-07T16:00:00Z"}
"""The provenance fields of a hand-made ``textenvs bench`` run file (none of the results scripts reads them)."""


def write_bench_runs(directory, runs: list[dict]):
    """Hand-made run files written as ``textenvs bench`` writes them (``<directory>/runs/<run>.json``), each checked
    to be a valid :class:`~agents.bench.results.RunResult` first; returns ``directory``."""
    import json

    from agents.bench.results import RunResult

    (directory / "runs").mkdir(parents=True, exist_ok=True)
    for run in runs:
        RunResult.model_validate(run)
        (directory / "runs" / f"{run['run']}.json").write_text(json.dumps(run))
    return directory
