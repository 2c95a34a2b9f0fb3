"""Dialogue: generate the next reply in a conversation."""

from textenvs.core import TextGenerationEnv
from textenvs.tasks.base import TaskSpec
from textenvs.tasks.manual import COMMON_MANUAL
from textenvs.vector import TextGenerationVectorEnv

DIALOGUE = TaskSpec(
    name="dialogue",
    default_dataset="synthetic-dialogue",
    default_scorer="token_f1",
    prompt_field="context",
    reference_field="response",
    max_prompt_length=128,
    max_new_tokens=40,
    prompt_truncation="left",
    turn_separator="\n",
)


class DialogueEnv(TextGenerationEnv):
    """Write the next turn of a dialogue token by token.

    ## Description
    The prompt is the dialogue history (a list of turns is joined with newlines, one turn per line); the policy
    writes the reply. The built-in data (``synthetic-dialogue``) is task-oriented: the reply must address the user's
    request (``metadata["slots"]``, scored by ``slot_coverage``). Real data: rows with ``context`` (list of turns or
    a string) and ``response`` fields, such as DailyDialog's JSONL files.

    Defaults: scorer ``token_f1`` (unigram F1 against the best reference), ``max_prompt_length=128``,
    ``max_new_tokens=40``, over-long histories keep their latest turns (``prompt_truncation="left"``).
    """

    task_spec = DIALOGUE
    __doc__ += COMMON_MANUAL


class DialogueVectorEnv(TextGenerationVectorEnv):
    """Native batched :class:`DialogueEnv` (``gymnasium.make_vec("textenvs/Dialogue-v0", num_envs=B)``)."""

    task_spec = DIALOGUE
