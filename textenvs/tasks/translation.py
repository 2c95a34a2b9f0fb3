"""Translation: generate the target-language sentence for a source sentence."""

from textenvs.core import TextGenerationEnv
from textenvs.tasks.base import TaskSpec
from textenvs.tasks.manual import COMMON_MANUAL
from textenvs.vector import TextGenerationVectorEnv

TRANSLATION = TaskSpec(
    name="translation",
    default_dataset="synthetic-translation",
    default_scorer="chrf",
    prompt_field="source",
    reference_field="target",
    max_prompt_length=64,
    max_new_tokens=48,
    prompt_truncation="right",
)


class TranslationEnv(TextGenerationEnv):
    """Translate a source sentence token by token.

    ## Description
    The prompt is a source sentence; the policy writes its translation one token per step. The built-in data
    (``synthetic-translation``) is a generated language pair with a lexicon, reordering and inflection rules (see
    ``textenvs/data/README.md``). Real data: aligned line files such as Multi30k
    (``dataset="path/to/multi30k", dataset_languages=("de", "en")``) or rows with ``source``/``target`` fields.

    Defaults: scorer ``chrf`` (sentence chrF in [0, 1]), ``max_prompt_length=64``, ``max_new_tokens=48``,
    over-long prompts cut at the end (``prompt_truncation="right"``).
    """

    task_spec = TRANSLATION
    __doc__ += COMMON_MANUAL


class TranslationVectorEnv(TextGenerationVectorEnv):
    """Native batched :class:`TranslationEnv` (``gymnasium.make_vec("textenvs/Translation-v0", num_envs=B)``)."""

    task_spec = TRANSLATION
