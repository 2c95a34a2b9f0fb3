"""The parts of every text environment's manual that are the same for all tasks (appended to each task docstring).

:data:`COMMON_MANUAL` is the env contract, written once: what an action is, every observation key, rewards, resets,
episode ends and their info, action masks and the vector env's autoreset modes. ``help()`` of any env shows it
(e.g. ``help(textenvs.tasks.translation.TranslationEnv)``); the code's docstrings, ``docs/architecture.md`` and the
README link here. The multi-turn env's manual (``multiturn_dialogue.py``) writes out where it differs."""

from textenvs.tasks.base import TaskSpec

COMMON_MANUAL = """
    ## Action Space
    ``Discrete(V)`` with ``V = len(tokenizer)``: an action is the id of the next token. Taking EOS ends the episode.
    With ``action_mask=...`` the legal subset at each step is returned by ``env.action_masks()`` (bool, ``(V,)``;
    EOS is always legal) and a masked action raises ``InvalidAction``.

    ## Observation Space
    ``Dict`` of fixed-shape integer arrays (P = ``max_prompt_length``, N = ``max_new_tokens``):

    | key | shape | dtype | min | max | meaning |
    |---|---|---|---|---|---|
    | ``prompt_ids`` | (P,) | int64 | 0 | V-1 | prompt tokens; causal mode: left-padded, ending with the separator (sep token, else EOS), or with ``chat_template=True`` the tokenizer's chat template of ``[system_prompt, prompt]`` ending with its assistant header; seq2seq mode: right-padded encoder input with the tokenizer's special tokens |
    | ``prompt_mask`` | (P,) | int8 | 0 | 1 | 1 where ``prompt_ids`` holds a real token |
    | ``generated_ids`` | (N,) | int64 | 0 | V-1 | tokens generated so far, right-padded with the pad id (an EOS action is stored too) |
    | ``generated_mask`` | (N,) | int8 | 0 | 1 | 1 where ``generated_ids`` holds a generated token |

    ## Rewards
    ``reward_mode="terminal"`` (default): 0 at every step but the last, where the reward is the scorer's primary
    score of the decoded text (special tokens skipped) against the example's references.
    ``reward_mode="incremental"``: the change of the primary score of the decoded prefix at every step; the rewards
    of an episode sum to its final score (costs one decode and score per step).

    ## Starting State
    ``reset(seed=...)`` draws an example of the split uniformly from the env's generator;
    ``reset(options={"example_index": k})`` picks example k. Reset info: ``example_id``, ``example_index``.

    ## Episode End
    Terminated when the action is EOS or when N tokens have been generated. The budget is part of the task, not a
    time limit outside it: the text is final and fully scored at that step, nothing can follow, and the observation
    shows how many tokens are left; so learners must not bootstrap a value past it, and ``truncated`` is never set by
    the env (it stays free for wrappers such as ``TimeLimit``). The last step's info holds ``prediction`` (decoded
    text), ``prompt``, ``references``, ``example_id``, ``example_index``, ``finish_reason`` (``"stop"``: EOS;
    ``"length"``: the budget, as in OpenAI-style APIs) and ``metrics`` (every score the scorer returned). Stepping
    after the end raises ``ResetNeeded``.

    ## Vector Env
    ``gymnasium.make_vec(id, num_envs=B, vectorization_mode="vector_entry_point")`` builds the native batched env
    (:class:`textenvs.vector.TextGenerationVectorEnv`) with the same arguments; its episodes are those of
    ``SyncVectorEnv`` over single envs (sub-env i seeded with ``seed + i``), and the episodes that end on a step are
    scored in one batched scorer call. ``reset(options={"example_index": idx})`` takes one index or B;
    ``action_masks()`` is ``(B, V)``.

    - ``autoreset_mode=AutoresetMode.NEXT_STEP`` (default, as ``SyncVectorEnv``): a sub-env that ended is reset by
      the next ``step`` and its action ignored.
    - ``autoreset_mode=AutoresetMode.DISABLED`` (or ``"Disabled"``): nothing restarts by itself;
      ``reset(options={"reset_mask": mask, "example_index": idx})`` restarts the masked sub-envs (bool ``(B,)``
      numpy array; the ``idx`` entries of unmasked sub-envs are ignored). Until then a finished (or never started)
      sub-env idles: its action is ignored (neither checked nor masked), its reward is 0, ``terminated`` and
      ``truncated`` are False, it adds no info and its observation stays the last one; ``action_masks()`` runs the
      mask provider for running episodes only (idle rows all True). ``SyncVectorEnv`` refuses to step such a
      sub-env; idling lets episodes of different lengths run in one batch until the last ends. PPO rollouts need
      this mode (one episode per sub-env, the scorer called once per finished episode); ``generate_split`` takes
      either.

    Stepping with no episode running raises ``ResetNeeded``. ``close()`` releases what the env holds (a
    ``ParallelScorer``'s worker processes).

    ## Arguments
    See :class:`textenvs.core.TextGenerationEnv`: ``tokenizer``, ``dataset``, ``split``, ``dataset_fields``,
    ``dataset_languages``, ``scorer``, ``scorer_kwargs``, ``max_prompt_length``, ``max_new_tokens``,
    ``observation_mode``, ``prompt_truncation``, ``reward_mode``, ``action_mask``, ``chat_template``,
    ``system_prompt``, ``render_mode``; the vector env also ``num_envs`` and ``autoreset_mode``.
    ``chat_template=True`` needs a tokenizer with a chat template and ``observation_mode="causal"`` (else
    ``ValueError``); over-long prompts are cut inside the user message, never inside the template's tokens.
    ``dataset_options``: the difficulty knobs of a v1 built-in dataset (listed above where the env has them).
"""

V0_HISTORY = """
    ## Version History
    * v0: initial release. Later within v0 (scores unchanged): reaching ``max_new_tokens`` reports ``terminated``
      (it reported ``truncated``), the last info gained ``finish_reason``, the vector env gained
      ``autoreset_mode=DISABLED`` and ``reset_mask``.
"""

V1_HISTORY = """
    ## Version History
    * v1: built-in data with a canonical output per example, imperfect demonstrations as train references, a
      verifiable reward computed from the example's metadata (1.0 exactly for the canonical output), difficulty
      knobs (``dataset_options``) and its own warm start (``agents/checkpoints/<task>-v1``). First registered as
      ``textenvs/<Task>-v1``, a version of the real-data family's name; now ``textenvs/Synthetic<Task>-v1``, with
      the old id kept as a deprecated alias of the same env (same results).
    * The real-data family ``textenvs/<Task>-v0`` is another task (any dataset, reference-based reward), not an
      earlier version of this one.
"""


V2_HISTORY = """
    ## Version History
    * v2: frame-grammar outputs with several valid outputs per example, a gold reward that parses the output
      (``synthetic_gold``), demonstrations with input-dependent errors at per-item rates, difficulty levels
      (``dataset_options={"level": ...}``), splits disjoint by combination of values with a compositional test split,
      proxy rewards (``proxy_bleu``, ``proxy_rougeL``, ``proxy_token_f1``). Warm starts per level:
      ``agents/checkpoints/<task>-v2-<level>`` (``model="default"`` loads the one of ``dataset_options["level"]``,
      medium when none is named; see agents/checkpoints/README.md for which levels ship).
    * v1: one canonical output per example, demonstrations flawed by one input-independent choice, rewards that pay
      for bag-of-words content (still registered, unchanged; first registered as ``textenvs/<Task>-v1``).
"""

V2_COMMON = """
    ## Gold reward (``synthetic_gold``)
    The output is parsed with the task's frame grammar (``metadata["grammar"]``; the frames are listed above) and
    every role it states is compared with the gold values (``metadata["roles"]``): ``correct / max(gold roles,
    stated roles)`` for its best reading. A wrong value (a distractor's, another role's, a loose synonym), a missing
    role and an invented one each cost one role. Text the grammar does not accept scores 0.0 whatever words it
    contains (bare value lists, shuffled words, an output said twice, a hedge with several values for one role, a copy
    of the source); every valid output (``metadata["valid"]``: each frame, each valid order) scores exactly 1.0.
    Metrics also hold ``grammatical`` (1.0 where the output parses).

    ## Proxy rewards
    ``scorer="proxy_bleu"`` (or ``proxy_rougeL``, ``proxy_token_f1``) trains on the reference metric against the
    references: on the train split the flawed demonstrations, so it pays for their errors. The gold score of the same
    outputs is reported in ``info["metrics"]["synthetic_gold/synthetic_gold"]``.

    ## Splits and levels
    ``split``: ``train`` (demonstrations as references), ``validation``, ``test`` (i.i.d.) and
    ``test_compositional`` (held-out references: every valid output). No held-out combination of values occurs in
    train, nor does any held-out output; ``test_compositional`` holds the examples whose value pair of two roles
    (``COMPOSITION`` of the generator module) is never seen in train, though each value is.
    ``dataset_options={"level": "easy" | "medium" | "hard"}`` (default medium) sets every knob; single knobs
    override it. Each demonstration error happens, where its trigger holds, with its knob's probability: easy 0.2-0.3
    (a model fit to the demonstrations is mostly right), medium 0.4-0.6 (distractors, swaps and omissions win where
    they trigger), hard 0.7-0.8 (every error wins where it triggers; structural knobs add triggers). Paraphrases (valid) at
    0.3 / 0.4 / 0.5.
"""

_TRUNCATION = {"right": "over-long prompts keep their beginning", "left": "over-long prompts keep their end",
               "error": "over-long prompts are refused"}


def task_manual(spec: TaskSpec, history: str) -> str:
    """What a task env's docstring ends with: :data:`COMMON_MANUAL`, the env's defaults read from its ``spec`` (so
    the manual cannot drift from them) and its version ``history``."""
    return COMMON_MANUAL + f"""
    This env's defaults (its ``task_spec``): ``dataset="{spec.default_dataset}"``, ``scorer="{spec.default_scorer}"``,
    ``max_prompt_length={spec.max_prompt_length}``, ``max_new_tokens={spec.max_new_tokens}``,
    ``prompt_truncation="{spec.prompt_truncation}"`` ({_TRUNCATION[spec.prompt_truncation]}).
""" + history
