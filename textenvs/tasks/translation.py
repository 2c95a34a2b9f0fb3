"""Translation: generate the target-language sentence for a source sentence."""

from textenvs.core import TextGenerationEnv
from textenvs.tasks.manual import V0_HISTORY, V1_HISTORY, V2_COMMON, V2_HISTORY, task_manual
from textenvs.tasks.specs import TRANSLATION, TRANSLATION_V1, TRANSLATION_V2
from textenvs.vector import TextGenerationVectorEnv


class TranslationEnv(TextGenerationEnv):
    """Translate a source sentence token by token.

    ## Description
    The prompt is a source sentence; the policy writes its translation one token per step. The built-in data
    (``synthetic-translation``) is a generated language pair with a lexicon, reordering and inflection rules (see
    ``textenvs/data/README.md``). Real data: aligned line files such as Multi30k
    (``dataset="path/to/multi30k", dataset_languages=("de", "en")``) or rows with ``source``/``target`` fields.
    The default reward is sentence chrF in [0, 1].
    """

    task_spec = TRANSLATION
    __doc__ += task_manual(task_spec, V0_HISTORY)


class TranslationVectorEnv(TextGenerationVectorEnv, single_env=TranslationEnv):
    """Native batched :class:`TranslationEnv`: its keyword arguments and episodes, ``num_envs`` at a time."""


class TranslationV1Env(TextGenerationEnv):
    """Translate a short sentence of a generated language into its one canonical English translation.

    ## Description
    The prompt is a source sentence (``synthetic-translation-v1``: subject-object-verb order, adjectives after
    their noun, v0's lexicon and suffixes), e.g. ``luso vegu rebapum gisuta .``; its canonical translation is
    ``the big boy saw the car .`` (6 to 8 tokens). Every content word has a canonical English rendering and a
    loose one (*boy* → *child*, *big* → *heavy*, *saw* → *found*, *car* → *van*). The train split's
    references are demonstrations by two translators: the loose one (probability ``synonym_rate``, default 0.6)
    renders every content word loosely, the literal one gives the canonical translation. A model fit to them
    prefers the loose translation under greedy decoding but samples the canonical one about 40% of the time:
    reinforcement learning with the task reward can move it to the canonical translation. Validation and test
    references are canonical; ``metadata["canonical"]`` always is.

    ## Task reward (``translation_agreement``)
    ``LCS(prediction, canonical) / max(len(prediction), len(canonical))`` over whitespace tokens (punctuation
    counts): 1.0 exactly for the canonical translation, 0.0 for an empty one. Every wrong, missing, extra or
    misplaced token costs ``1 / max(len)``, so length and repetition never pay. Worked examples, canonical
    ``the big boy saw the car .`` (7 tokens):

    | prediction | score |
    |---|---|
    | ``the big boy saw the car .`` | 1.0 |
    | ``the heavy child found the van .`` (the loose demonstration) | 3/7 = 0.429 |
    | ``the heavy child saw the car .`` | 5/7 = 0.714 |
    | ``the big boy saw the car . the car .`` (padded) | 7/10 = 0.7 |
    | ``the boy big saw the car .`` (reordered) | 6/7 = 0.857 |
    | (empty) | 0.0 |

    ## Difficulty knobs (``dataset_options``)
    ``synonym_rate`` (0.6): share of loose demonstrations; above 0.5 greedy decoding of the warm start is loose.
    ``adjective_rate`` (0.5): probability that each noun has an adjective (longer outputs, more words to get
    right). Example: ``gymnasium.make("textenvs/SyntheticTranslation-v1", dataset_options={"synonym_rate": 0.8})``.
    Warm start: ``agents/checkpoints/translation-v1`` (trained on the default knobs).
    """

    task_spec = TRANSLATION_V1
    __doc__ += task_manual(task_spec, V1_HISTORY)


class TranslationV1VectorEnv(TextGenerationVectorEnv, single_env=TranslationV1Env):
    """Native batched :class:`TranslationV1Env`: its keyword arguments and episodes, ``num_envs`` at a time."""


class TranslationV2Env(TextGenerationEnv):
    """Translate a short sentence of a generated language into English: one of its valid translations, every word
    in its role.

    ## Description
    The prompt (``synthetic-translation-v2``) is a source sentence of v1's language, e.g. ``luso vegu rebapum
    galuta .``; the people and things in it are the ``subject``, ``object`` and their optional adjectives, plus the
    ``verb``. Valid translations: the active ``the big boy carried the car .`` (canonical) and the passive ``the car
    was carried by the big boy .``. The train split's references are demonstrations whose errors depend on the source: loose
    words for the lemmas of the loose vocabulary (each word on its own), subject and object swapped when both are
    people, the subject's adjective copied onto the object when both have one, a droppable adjective left out, an
    adjective invented for a bare subject (the table is in :mod:`textenvs.data.generators.translation_v2`).

    Grammar frames: ``the [{subject_adjective}] {subject} {verb} the [{object_adjective}] {object} .`` and
    ``the [{object_adjective}] {object} was {verb:participle} by the [{subject_adjective}] {subject} .``.
    Worked examples, source of ``the big boy carried the car .`` (4 roles):

    | output | score |
    |---|---|
    | ``the big boy carried the car .`` / ``the car was carried by the big boy .`` | 1.0 |
    | ``the big child carried the car .`` (a loose word) | 3/4 |
    | ``the car carried the big boy .`` (roles swapped) | 1/4 |
    | ``the boy carried the car .`` (adjective left out) | 3/4 |
    | ``the big boy carried the red car .`` (*red* is no adjective of the grammar) | 0.0 |
    | ``big boy carried car`` / ``the big boy carried the car . the big boy carried the car .`` | 0.0 |

    ## Difficulty knobs (``dataset_options``)
    ``level`` and the error rates (``distractor_rate``, ``swap_rate``, ``invent_rate``, ``omission_rate``,
    ``synonym_rate``, ``paraphrase_rate``: :class:`~textenvs.data.generators.errors_v2.ErrorRates`), plus
    ``adjective_rate`` and ``person_object_rate`` (:class:`~textenvs.data.generators.translation_v2.TranslationV2Options`).
    """

    task_spec = TRANSLATION_V2
    __doc__ += V2_COMMON + task_manual(task_spec, V2_HISTORY)


class TranslationV2VectorEnv(TextGenerationVectorEnv, single_env=TranslationV2Env):
    """Native batched :class:`TranslationV2Env`: its keyword arguments and episodes, ``num_envs`` at a time."""
