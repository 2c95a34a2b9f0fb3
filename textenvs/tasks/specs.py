"""Every task's :class:`~textenvs.tasks.base.TaskSpec` in one table: each family's data schema once, then each
version's defaults side by side. The task modules (``translation.py``, ``summarization.py``, ``dialogue.py``,
``multiturn_dialogue.py``) hold the environment classes and their manuals and read their specs from here; a new
version is one row (its id gets a new ``-vN``, see ``textenvs/registration.py``)."""

from textenvs.tasks.base import TaskFamily

TRANSLATION_FAMILY = TaskFamily(prompt_field="source", reference_field="target", prompt_truncation="right")
SUMMARIZATION_FAMILY = TaskFamily(prompt_field="document", reference_field="summary", prompt_truncation="right")
# A dialogue history may be a list of turns, joined one turn per line; an over-long one keeps its latest turns.
DIALOGUE_FAMILY = TaskFamily(prompt_field="context", reference_field="response", prompt_truncation="left",
                             turn_separator="\n")
MULTITURN_DIALOGUE_FAMILY = TaskFamily(prompt_field="prompt", reference_field="references", prompt_truncation="right")

# version(name, built-in dataset, default scorer, max_prompt_length, max_new_tokens, reward_ceiling): v0 takes any
# dataset of the task (no ceiling known); v1 and v2 are benchmark tasks whose canonical outputs score 1.0.
TRANSLATION = TRANSLATION_FAMILY.version("translation", "synthetic-translation", "chrf", 64, 48)
TRANSLATION_V1 = TRANSLATION_FAMILY.version("translation-v1", "synthetic-translation-v1", "translation_agreement",
                                            16, 16, reward_ceiling=1.0)
TRANSLATION_V2 = TRANSLATION_FAMILY.version("translation-v2", "synthetic-translation-v2", "synthetic_gold", 16, 20,
                                            reward_ceiling=1.0)
SUMMARIZATION = SUMMARIZATION_FAMILY.version("summarization", "synthetic-summarization", "rougeL", 192, 48)
SUMMARIZATION_V1 = SUMMARIZATION_FAMILY.version("summarization-v1", "synthetic-summarization-v1", "summary_facts",
                                                48, 16, reward_ceiling=1.0)
SUMMARIZATION_V2 = SUMMARIZATION_FAMILY.version("summarization-v2", "synthetic-summarization-v2", "synthetic_gold",
                                                64, 24, reward_ceiling=1.0)
DIALOGUE = DIALOGUE_FAMILY.version("dialogue", "synthetic-dialogue", "token_f1", 128, 40)
DIALOGUE_V1 = DIALOGUE_FAMILY.version("dialogue-v1", "synthetic-dialogue-v1", "dialogue_slots", 32, 20,
                                      reward_ceiling=1.0)
DIALOGUE_V2 = DIALOGUE_FAMILY.version("dialogue-v2", "synthetic-dialogue-v2", "synthetic_gold", 48, 28,
                                      reward_ceiling=1.0)
MULTITURN_DIALOGUE = MULTITURN_DIALOGUE_FAMILY.version("multiturn_dialogue", "synthetic-booking-goals",
                                                       "dialogue_goal", 64, 256)
MULTITURN_DIALOGUE_V1 = MULTITURN_DIALOGUE_FAMILY.version("multiturn_dialogue-v1", "synthetic-booking-goals-v1",
                                                          "booking_goal", 64, 256, reward_ceiling=1.0)
