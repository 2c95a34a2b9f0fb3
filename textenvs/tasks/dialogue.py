"""Dialogue: generate the next reply in a conversation."""

from textenvs.core import TextGenerationEnv
from textenvs.tasks.manual import V0_HISTORY, V1_HISTORY, V2_COMMON, V2_HISTORY, task_manual
from textenvs.tasks.specs import DIALOGUE, DIALOGUE_V1, DIALOGUE_V2
from textenvs.vector import TextGenerationVectorEnv


class DialogueEnv(TextGenerationEnv):
    """Write the next turn of a dialogue token by token.

    ## Description
    The prompt is the dialogue history (a list of turns is joined with newlines, one turn per line); the policy
    writes the reply. The built-in data (``synthetic-dialogue``) is task-oriented: the reply must address the user's
    request (``metadata["slots"]``, scored by ``slot_coverage``). Real data: rows with ``context`` (list of turns or
    a string) and ``response`` fields, such as DailyDialog's JSONL files. The default reward is the unigram F1
    against the best reference; over-long histories keep their latest turns.
    """

    task_spec = DIALOGUE
    __doc__ += task_manual(task_spec, V0_HISTORY)


class DialogueVectorEnv(TextGenerationVectorEnv, single_env=DialogueEnv):
    """Native batched :class:`DialogueEnv`: its keyword arguments and episodes, ``num_envs`` at a time."""


class DialogueV1Env(TextGenerationEnv):
    """Confirm a booking request: every requested slot, in the canonical reply, nothing invented.

    ## Description
    The prompt (``synthetic-dialogue-v1``) is one user turn giving every required slot of a restaurant, taxi or
    hotel booking in a shuffled order, e.g. ``user: please book a hotel from friday for 3 nights for 4 people
    .``; the canonical reply confirms the slots in a fixed order: ``i have booked a hotel for 4 people for 3
    nights from friday .`` (``metadata["slots"]``: ``["4 people", "3 nights", "friday"]``; taxi places carry
    their preposition, ``"from the airport"``, so swapping departure and destination fills neither). The train
    split's references are demonstrations: ``how can i help you ?`` with probability ``generic_rate`` (0.3), the
    reply cut after its first two slots with probability ``partial_rate`` (0.4), else the canonical reply. A
    model fit to them confirms only two slots under greedy decoding, but samples the full confirmation about
    30% of the time. Validation and test references are canonical.

    ## Task reward (``dialogue_slots``)
    ``slot_coverage × precision``: the fraction of slots the reply states (contiguous spans, articles and
    punctuation ignored) times the fraction of the reply's tokens that the canonical reply accounts for (each
    canonical token usable as often as it occurs there), so generic replies, invented or wrong values, repeats
    and padding do not pay. 1.0 exactly for the canonical reply, 0.0 for an empty one. Worked examples,
    canonical ``i have booked a hotel for 4 people for 3 nights from friday .`` (14 tokens, 3 slots):

    | prediction | coverage | precision | score |
    |---|---|---|---|
    | ``i have booked a hotel for 4 people for 3 nights from friday .`` | 3/3 | 14/14 | 1.0 |
    | ``i have booked a hotel for 4 people for 3 nights .`` (partial) | 2/3 | 12/12 | 0.667 |
    | ``how can i help you ?`` (generic) | 0/3 | 1/6 | 0.0 |
    | ``i have booked a hotel for 5 people for 3 nights from friday .`` (wrong value) | 2/3 | 13/14 | 0.619 |
    | (empty) | 0 | 0 | 0.0 |

    ## Difficulty knobs (``dataset_options``)
    ``generic_rate`` (0.3) and ``partial_rate`` (0.4): shares of generic and partial demonstrations (their sum at
    most 1); while ``partial_rate`` exceeds the canonical share the warm start's greedy reply is partial.
    ``intents`` (all three): which of ``restaurant``, ``taxi``, ``hotel`` to draw from.
    Warm start: ``agents/checkpoints/dialogue-v1`` (trained on the default knobs).
    """

    task_spec = DIALOGUE_V1
    __doc__ += task_manual(task_spec, V1_HISTORY)


class DialogueV1VectorEnv(TextGenerationVectorEnv, single_env=DialogueV1Env):
    """Native batched :class:`DialogueV1Env`: its keyword arguments and episodes, ``num_envs`` at a time."""


class DialogueV2Env(TextGenerationEnv):
    """Confirm a booking request: every slot the user asked for, with the value they settled on, in a valid reply.

    ## Description
    The prompt (``synthetic-dialogue-v2``) is one user turn asking for a table, a taxi or a hotel with every
    required slot in a shuffled order, sometimes an area, sometimes a correction of one value (``... actually , for
    6 people .``). Roles: ``service`` and restaurant ``people``, ``food``, ``area`` (optional), ``day``, ``hour``;
    taxi ``departure``, ``destination``, ``day``, ``hour``; hotel ``people``, ``nights``, ``area`` (optional),
    ``day``. Two valid replies per intent: ``i have booked a table for 6 people for thai food on friday at 7 pm .``
    (canonical) / ``your table for 6 people for thai food is booked for friday at 7 pm .``, and likewise for taxis
    (``your taxi to the airport leaves from the zoo ...``) and hotels. The train split's references are demonstrations whose
    errors depend on the request: the corrected value instead of the correction, departure/destination or
    people/nights swapped where the request gives them in the other order, an area invented after *please*, the slot
    mentioned last left out (:mod:`textenvs.data.generators.dialogue_v2`).

    Worked examples, canonical ``i have booked a table for 6 people for thai food on friday at 7 pm .`` (5 roles):

    | output | score |
    |---|---|
    | either valid reply | 1.0 |
    | ``i have booked a table for 4 people for thai food on friday at 7 pm .`` (the corrected value) | 4/5 |
    | ``i have booked a table for 6 people for thai food on friday .`` (hour left out) | 4/5 |
    | ``i have booked a table for 6 people for thai food in the centre on friday at 7 pm .`` (invented area) | 5/6 |
    | ``how can i help you ?`` / ``6 thai friday 7`` / the user's turn copied | 0.0 |

    ## Difficulty knobs (``dataset_options``)
    ``level`` and the error rates (:class:`~textenvs.data.generators.errors_v2.ErrorRates`; ``synonym_rate`` has
    no trigger here), plus ``correction_rate``, ``area_rate``, ``intents``
    (:class:`~textenvs.data.generators.dialogue_v2.DialogueV2Options`).
    """

    task_spec = DIALOGUE_V2
    __doc__ += V2_COMMON + task_manual(task_spec, V2_HISTORY)


class DialogueV2VectorEnv(TextGenerationVectorEnv, single_env=DialogueV2Env):
    """Native batched :class:`DialogueV2Env`: its keyword arguments and episodes, ``num_envs`` at a time."""
