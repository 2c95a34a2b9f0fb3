"""Summarization: generate a short summary of a document."""

from textenvs.core import TextGenerationEnv
from textenvs.tasks.base import TaskSpec
from textenvs.tasks.manual import COMMON_MANUAL
from textenvs.vector import TextGenerationVectorEnv

SUMMARIZATION = TaskSpec(
    name="summarization",
    default_dataset="synthetic-summarization",
    default_scorer="rougeL",
    prompt_field="document",
    reference_field="summary",
    max_prompt_length=192,
    max_new_tokens=48,
    prompt_truncation="right",
)


class SummarizationEnv(TextGenerationEnv):
    """Summarize a document token by token.

    ## Description
    The prompt is a document; the policy writes a summary one token per step. The built-in data
    (``synthetic-summarization``) mixes the key facts of an event with distractor sentences; the summary must state
    the key facts (``metadata["key_facts"]``, scored by ``key_fact_recall``). Real data: rows with
    ``document``/``summary`` fields, such as SAMSum's JSONL files.

    Defaults: scorer ``rougeL`` (ROUGE-L F-measure), ``max_prompt_length=192``, ``max_new_tokens=48``,
    over-long documents cut at the end (``prompt_truncation="right"``).
    """

    task_spec = SUMMARIZATION
    __doc__ += COMMON_MANUAL


class SummarizationVectorEnv(TextGenerationVectorEnv):
    """Native batched :class:`SummarizationEnv` (``gymnasium.make_vec("textenvs/Summarization-v0", num_envs=B)``)."""

    task_spec = SUMMARIZATION
