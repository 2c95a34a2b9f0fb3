"""Summarization: generate a short summary of a document."""

from textenvs.core import TextGenerationEnv
from textenvs.tasks.manual import V0_HISTORY, V1_HISTORY, V2_COMMON, V2_HISTORY, task_manual
from textenvs.tasks.specs import SUMMARIZATION, SUMMARIZATION_V1, SUMMARIZATION_V2
from textenvs.vector import TextGenerationVectorEnv


class SummarizationEnv(TextGenerationEnv):
    """Summarize a document token by token.

    ## Description
    The prompt is a document; the policy writes a summary one token per step. The built-in data
    (``synthetic-summarization``) mixes the key facts of an event with distractor sentences; the summary must state
    the key facts (``metadata["key_facts"]``, scored by ``key_fact_recall``). Real data: rows with
    ``document``/``summary`` fields, such as SAMSum's JSONL files. The default reward is the ROUGE-L F-measure.
    """

    task_spec = SUMMARIZATION
    __doc__ += task_manual(task_spec, V0_HISTORY)


class SummarizationVectorEnv(TextGenerationVectorEnv, single_env=SummarizationEnv):
    """Native batched :class:`SummarizationEnv`: its keyword arguments and episodes, ``num_envs`` at a time."""


class SummarizationV1Env(TextGenerationEnv):
    """Summarize a short document in one sentence that states every key fact and nothing else.

    ## Description
    The prompt (``synthetic-summarization-v1``) tells one person's event (``maria bought 3 apples .``) and, in
    separate sentences shuffled among background ones, where (``she was in paris .``) and when (``it was
    friday .``). The canonical summary is ``maria bought 3 apples in paris on friday .`` and
    ``metadata["key_facts"]`` is ``["maria", "bought", "3 apples", "paris", "friday"]``. Every fact value is one
    token that occurs once in the document, so copying it is easy. The train split's references are
    demonstrations that leave facts out: with probability ``omission_rate`` (0.65) they omit facts, 70% of those
    times everything after the objects (``maria bought 3 apples .``), otherwise only the city (``maria bought 3
    apples on friday .``). A model fit to them ends the summary early under greedy decoding but samples the
    complete summary about 35% of the time. Validation and test references are canonical.

    ## Task reward (``summary_facts``)
    ``key_fact_recall × precision``: the fraction of key facts stated (contiguous spans, articles and
    punctuation ignored) times the fraction of the summary's tokens that the canonical summary accounts for
    (each canonical token usable as often as it occurs there). The precision term is the length budget and the
    penalty for facts not in the document: anything beyond the canonical summary, repeats included, lowers it.
    1.0 exactly for the canonical summary, 0.0 for an empty one. Worked examples, canonical ``maria bought 3
    apples in paris on friday .`` (9 tokens, 5 facts):

    | prediction | recall | precision | score |
    |---|---|---|---|
    | ``maria bought 3 apples in paris on friday .`` | 5/5 | 9/9 | 1.0 |
    | ``maria bought 3 apples .`` (the common demonstration) | 3/5 | 5/5 | 0.6 |
    | ``maria bought 3 apples on friday .`` | 4/5 | 7/7 | 0.8 |
    | ``maria bought 3 apples in rome on friday .`` (invented city) | 4/5 | 8/9 | 0.711 |
    | ``maria bought 3 apples in paris on friday . in paris on friday .`` | 5/5 | 9/14 | 0.643 |
    | (empty) | 0 | 0 | 0.0 |

    ## Difficulty knobs (``dataset_options``)
    ``omission_rate`` (0.65): share of demonstrations that leave facts out. ``num_facts`` (5): 3 to 5 key facts
    (person, verb, amount; then city; then day). ``num_distractors`` (2): background sentences, 0 to 5.
    Warm start: ``agents/checkpoints/summarization-v1`` (trained on the default knobs).
    """

    task_spec = SUMMARIZATION_V1
    __doc__ += task_manual(task_spec, V1_HISTORY)


class SummarizationV1VectorEnv(TextGenerationVectorEnv, single_env=SummarizationV1Env):
    """Native batched :class:`SummarizationV1Env`: its keyword arguments and episodes, ``num_envs`` at a time."""


class SummarizationV2Env(TextGenerationEnv):
    """Summarize a short document in one sentence that states the main person's facts, each in its role.

    ## Description
    The prompt (``synthetic-summarization-v2``) tells one person's event actively or passively (``3 apples were
    bought by maria for tom .``), the city and (optionally) the day in their own sentences, among background
    sentences and distractors (another person in another city, on another day). Roles: ``person``, ``verb``,
    ``count``, ``object``, ``beneficiary`` (optional), ``city``, ``day`` (optional). Valid summaries: ``maria bought 3
    apples for tom in paris on friday .`` (canonical), ``on friday , maria ...``, ``in paris on friday , maria ...``,
    ``maria ... on friday in paris .``. The train split's references are demonstrations whose errors depend on the
    document: the distractor's city or day where its sentence comes first, person and beneficiary swapped after a
    passive, a day invented where none is given, the beneficiary or the city left out where they come in their own or
    in the last sentence, a loose verb (:mod:`textenvs.data.generators.summarization_v2`).

    Worked examples, canonical ``maria bought 3 apples for tom in paris on friday .`` (7 roles):

    | output | score |
    |---|---|
    | any valid summary (four orders) | 1.0 |
    | ``maria bought 3 apples for tom in rome on friday .`` (the distractor's city) | 6/7 |
    | ``tom bought 3 apples for maria in paris on friday .`` (swapped) | 5/7 |
    | ``maria bought 3 apples in paris on friday .`` (beneficiary left out) | 6/7 |
    | ``maria bought 3 apples paris friday`` / the document / shuffled words | 0.0 |

    ## Difficulty knobs (``dataset_options``)
    ``level`` and the error rates (:class:`~textenvs.data.generators.errors_v2.ErrorRates`), plus
    ``beneficiary_rate``, ``day_rate``, ``num_distractors``, ``num_background``
    (:class:`~textenvs.data.generators.summarization_v2.SummarizationV2Options`).
    """

    task_spec = SUMMARIZATION_V2
    __doc__ += V2_COMMON + task_manual(task_spec, V2_HISTORY)


class SummarizationV2VectorEnv(TextGenerationVectorEnv, single_env=SummarizationV2Env):
    """Native batched :class:`SummarizationV2Env`: its keyword arguments and episodes, ``num_envs`` at a time."""
